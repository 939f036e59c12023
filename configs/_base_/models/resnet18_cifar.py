# mmpretrain's ResNet_CIFAR-18 (3x3 stem without max-pooling, random init):
# a 3x32x32 image leaves (B, 512, 4, 4) after the last stage. Global average
# pooling + linear head: the CNN twin of a capsule head. 11,173,962
# parameters.
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ResNet_CIFAR',
        depth=18,
        num_stages=4,
        out_indices=(3, ),
        style='pytorch'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=512,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
    ),
)
