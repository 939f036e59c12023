# resnet18_cifar.py with the capsule head of capsule_head.py instead of
# pooling + linear head: 32 capsule types at each position of the
# (B, 512, 4, 4) map of a 32x32 image (512 capsules), 10 class capsules, and
# a decoder reconstructing the 3x32x32 image in [0, 1] (CapsNetClassifier
# hands it the raw image). Parameters: trunk 11,168,832 + neck 131,328 +
# capsule layer 655,360 + decoder 3,756,544 = 15,712,064.
_base_ = ['./resnet18_cifar.py', './capsule_head.py']

capsule_grid = (4, 4)
model = dict(
    type='CapsNetClassifier',
    neck=dict(
        _delete_=True,
        **_base_.capsule_neck,
        in_channels=512,
        in_size=capsule_grid),
    head=dict(
        _delete_=True,
        **_base_.capsule_head,
        num_classes=10,
        in_capsules=_base_.capsule_types * capsule_grid[0] * capsule_grid[1],
        decoder=dict(type='CapsuleDecoder', out_shape=(3, 32, 32))),
)
