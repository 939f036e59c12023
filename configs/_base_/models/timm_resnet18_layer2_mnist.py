# timm ResNet-18 (random init) for 1x28x28 images, cut after its second
# stage (features_only=True, out_indices=(2,)): stem (stride 4), layer1 and
# layer2 (stride 8) give (B, 128, 4, 4). The whole network would leave a
# 1x1 map at stride 32, useless for capsules. Global average pooling +
# linear head: the CNN twin of a capsule head. 678,090 parameters.
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='TIMMBackbone',
        model_name='resnet18',
        pretrained=False,
        in_channels=1,
        features_only=True,
        out_indices=(2, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=128,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
    ),
)
