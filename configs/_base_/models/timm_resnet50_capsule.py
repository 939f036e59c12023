# timm_resnet50.py with the capsule head of capsule_head.py instead of
# pooling + linear head: 32 capsule types at each position of the
# (B, 2048, 7, 7) map (1,568 capsules), 1,000 16-D class capsules with one
# W per capsule type and class, shared by the 49 positions (4,096,000
# weights; one per capsule would be 200,704,000), dynamic routing with 3
# iterations on the lean path (votes='auto' takes it for dynamic routing
# with shared W: the vote tensor, 96 MiB per image, is never formed),
# margin loss, no decoder (a fully connected decoder to 3x224x224 pixels
# would hold 154 M weights).
# Parameters: trunk 23,508,032 + neck 524,544 + capsule layer 4,096,000 =
# 28,128,576.
#
# W's init_std sets the class capsules' length at initialisation, which
# also depends on the trunk's feature scale (this random-init trunk's
# primary capsules are 0.019 long on average): 8.0 makes them 0.024-0.054
# on random images (3 seeds), as long as the paper's MNIST CapsNet's at
# initialisation (0.032, std 0.1); std 0.1 would make them 4e-6, where the
# squash's gradient vanishes. Measured with random images, not ImageNet.
_base_ = ['./timm_resnet50.py', './capsule_head.py']

capsule_grid = (7, 7)
model = dict(
    neck=dict(
        _delete_=True,
        **_base_.capsule_neck,
        in_channels=2048,
        in_size=capsule_grid),
    head=dict(
        _delete_=True,
        **_base_.capsule_head,
        num_classes=1000,
        in_capsules=_base_.capsule_types * capsule_grid[0] * capsule_grid[1],
        weight_sharing=dict(
            num_types=_base_.capsule_types, grid=capsule_grid),
        init_std=8.0),
)
