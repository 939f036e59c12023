# timm_resnet18_layer2_mnist.py with the capsule head of capsule_head.py
# instead of pooling + linear head: 32 capsule types at each position of the
# (B, 128, 4, 4) layer2 map of a 28x28 image (512 capsules; the paper's
# CapsNet has 1152), 10 class capsules and the paper's 28x28
# reconstruction (CapsNetClassifier hands it the raw image). Parameters:
# trunk 676,800 + neck 33,024 + capsule layer 655,360 + decoder 1,411,344 =
# 2,776,528.
_base_ = ['./timm_resnet18_layer2_mnist.py', './capsule_head.py']

capsule_grid = (4, 4)
model = dict(
    type='CapsNetClassifier',
    neck=dict(
        _delete_=True,
        **_base_.capsule_neck,
        in_channels=128,
        in_size=capsule_grid),
    head=dict(
        _delete_=True,
        **_base_.capsule_head,
        num_classes=10,
        in_capsules=_base_.capsule_types * capsule_grid[0] * capsule_grid[1],
        decoder=dict(type='CapsuleDecoder', out_shape=(1, 28, 28))),
)
