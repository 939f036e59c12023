# timm_resnet18_layer2_mnist.py with a capsule head instead of pooling +
# linear head. PrimaryCapsNeck: a 1x1 conv makes 32 types of 8-D capsules
# at each position of the (B, 128, 4, 4) layer2 map of a 28x28 image:
# 32 x 4 x 4 = 512 capsules (the paper's CapsNet has 1152). DigitCapsHead:
# 10 16-D class capsules, 3 routing iterations, margin loss and the paper's
# 28x28 reconstruction (CapsNetClassifier hands it the raw image).
# Parameters: trunk 676,800 + neck 33,024 + capsule layer 655,360 + decoder
# 1,411,344 = 2,776,528.
_base_ = ['./timm_resnet18_layer2_mnist.py']

model = dict(
    type='CapsNetClassifier',
    neck=dict(
        _delete_=True,
        type='PrimaryCapsNeck',
        in_channels=128,
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
        decoder=dict(type='CapsuleDecoder', out_shape=(1, 28, 28))),
)
