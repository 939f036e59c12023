# timm DeiT-S (random init) + 1,000-class capsule head on ImageNet-1k at
# 224 px: 1,568 primary capsules (32 types x 7 x 7 from the 14 x 14 patch
# tokens), W shared across the grid, dynamic routing (3 iterations) on the
# lean path; 8 GPUs x 64, mixed precision, DeiT's schedule. Differs from
# its twin timm-deit-small_linear-head_8xb64_in1k.py in the model base line
# only (the neck and head).
_base_ = [
    '../_base_/models/timm_deit_small_capsule.py',
    '../_base_/datasets/imagenet_bs64_deit.py',
    '../_base_/schedules/imagenet_bs512_adamw_amp.py',
    '../_base_/default_runtime.py'
]
