# timm_deit_small.py with the capsule head of capsule_head.py instead of
# pooling + linear head. PrimaryCapsNeck: a 2x2 conv with stride 2 merges
# the (B, 384, 14, 14) patch-token map into 32 types of 8-D capsules on a
# 7x7 grid, 1,568 capsules, as on the ResNet-50 (1x1 on the 14x14 map would
# give 6,272, four times the routing cost). DigitCapsHead as in
# timm_resnet50_capsule.py: 1,000 16-D class capsules, W shared by the 49
# positions of a type (4,096,000 weights), dynamic routing with 3
# iterations on the lean path, margin loss, no decoder. Parameters: trunk
# 21,664,896 + neck 393,472 + capsule layer 4,096,000 = 26,154,368.
#
# init_std 0.6: the class capsules are 0.020-0.023 long at initialisation
# on random images (3 seeds), as the paper's MNIST CapsNet's (0.032); this
# trunk's primary capsules are 0.68 long on average (0.019 on the
# ResNet-50, whose head needs 8.0).
_base_ = ['./timm_deit_small.py', './capsule_head.py']

capsule_grid = (7, 7)
model = dict(
    neck=dict(
        _delete_=True,
        **_base_.capsule_neck,
        in_channels=384,
        kernel_size=2,
        stride=2,
        in_size=(14, 14)),
    head=dict(
        _delete_=True,
        **_base_.capsule_head,
        num_classes=1000,
        in_capsules=_base_.capsule_types * capsule_grid[0] * capsule_grid[1],
        weight_sharing=dict(
            num_types=_base_.capsule_types, grid=capsule_grid),
        init_std=0.6),
)
