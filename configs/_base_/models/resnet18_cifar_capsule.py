# resnet18_cifar.py with a capsule head instead of pooling + linear head.
# PrimaryCapsNeck: a 1x1 conv makes 32 types of 8-D capsules at each
# position of the (B, 512, 4, 4) map of a 32x32 image: 32 x 4 x 4 = 512
# capsules. DigitCapsHead: 10 16-D class capsules, 3 routing iterations,
# margin loss, and a decoder reconstructing the 3x32x32 image in [0, 1]
# (CapsNetClassifier hands it the raw image). Parameters: trunk 11,168,832
# + neck 131,328 + capsule layer 655,360 + decoder 3,756,544 = 15,712,064.
_base_ = ['./resnet18_cifar.py']

model = dict(
    type='CapsNetClassifier',
    neck=dict(
        _delete_=True,
        type='PrimaryCapsNeck',
        in_channels=512,
        num_types=32,
        capsule_dim=8,
        in_size=(4, 4)),
    head=dict(
        _delete_=True,
        type='DigitCapsHead',
        num_classes=10,
        in_capsules=32 * 4 * 4,
        in_dim=8,
        out_dim=16,
        routing=dict(type='DynamicRouting', num_iterations=3),
        decoder=dict(type='CapsuleDecoder', out_shape=(3, 32, 32))),
)
