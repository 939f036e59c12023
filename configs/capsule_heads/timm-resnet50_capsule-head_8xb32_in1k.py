# timm ResNet-50 (random init) + 1,000-class capsule head on ImageNet-1k at
# 224 px: 1,568 primary capsules (32 types x 7 x 7), W shared across the
# grid, dynamic routing (3 iterations) on the lean path; 8 GPUs x 32, mixed
# precision. Differs from its twin timm-resnet50_linear-head_8xb32_in1k.py
# in the model base line only (the neck and head).
_base_ = [
    '../_base_/models/timm_resnet50_capsule.py',
    '../_base_/datasets/imagenet_bs32.py',
    '../_base_/schedules/imagenet_bs256_amp.py',
    '../_base_/default_runtime.py'
]
