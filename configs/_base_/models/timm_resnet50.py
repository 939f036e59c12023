# timm ResNet-50 (random init) for 224x224 ImageNet images: features_only
# returns its stride-32 map, (B, 2048, 7, 7), as a one-element tuple
# (features_only=False would leave timm's classifier-less ResNet among the
# modules, see timm_resnet18_os8.py). Global average pooling + linear head
# over the 1,000 classes: the CNN twin of timm_resnet50_capsule.py.
# 25,557,032 parameters (timm's resnet50).
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='TIMMBackbone',
        model_name='resnet50',
        pretrained=False,
        features_only=True,
        out_indices=(4, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=2048,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5)),
)
