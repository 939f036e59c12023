# timm DeiT-S (random init) + global average pooling + linear head on
# ImageNet-1k at 224 px, 8 GPUs x 64, mixed precision: the linear twin of
# timm-deit-small_capsule-head_8xb64_in1k.py.
_base_ = [
    '../_base_/models/timm_deit_small.py',
    '../_base_/datasets/imagenet_bs64_deit.py',
    '../_base_/schedules/imagenet_bs512_adamw_amp.py',
    '../_base_/default_runtime.py'
]
