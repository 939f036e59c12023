# timm DeiT-S (deit_small_patch16_224, random init) for 224x224 ImageNet
# images: features_only returns the patch tokens of the last block as a
# (B, 384, 14, 14) map (no class token, no final norm). Global average
# pooling of the patch tokens + linear head over the 1,000 classes (DeiT
# classifies its class token instead; the patch-token average is what a
# capsule head can be compared with): the twin of
# timm_deit_small_capsule.py. Parameters: trunk 21,664,896 (timm's DeiT-S
# without its final norm and classifier) + head 385,000 = 22,049,896.
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='TIMMBackbone',
        model_name='deit_small_patch16_224',
        pretrained=False,
        features_only=True,
        out_indices=(-1, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=384,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5)),
)
