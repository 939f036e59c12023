# timm ResNet-50 (random init) + global average pooling + linear head on
# ImageNet-1k at 224 px, 8 GPUs x 32, mixed precision: the CNN twin of
# timm-resnet50_capsule-head_8xb32_in1k.py.
_base_ = [
    '../_base_/models/timm_resnet50.py',
    '../_base_/datasets/imagenet_bs32.py',
    '../_base_/schedules/imagenet_bs256_amp.py',
    '../_base_/default_runtime.py'
]
