# timm ResNet-18 (random init) for 3x32x32 images with output stride 8:
# layers 3 and 4 dilated instead of strided, so that the last stage keeps a
# 4x4 grid, (B, 512, 4, 4), where timm's usual stride 32 leaves 1x1 (too
# small for capsules). features_only=True returns that map as a one-element
# tuple. Global average pooling + linear head: the CNN twin of a capsule
# head. 11,181,642 parameters.
#
# features_only=False would return the same unpooled map, but leaves timm's
# ResNet (num_classes=0 after TIMMBackbone's reset_classifier) among the
# model's modules, which NumClassesCheckHook stops as a class-count mismatch.
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='TIMMBackbone',
        model_name='resnet18',
        pretrained=False,
        in_channels=3,
        features_only=True,
        out_indices=(4, ),
        output_stride=8),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=512,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
    ),
)
