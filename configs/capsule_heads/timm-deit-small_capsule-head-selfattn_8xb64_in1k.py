# timm-deit-small_capsule-head_8xb64_in1k.py with self-attention routing
# (Efficient-CapsNet's) instead of dynamic routing: one pass, learned log
# priors (1,000 x 1,568 = 1,568,000 more parameters). It routes the formed
# votes, (B, 1000, 1568, 16): 96 MiB per image in fp32, half under fp16
# autocast, kept for backward. init_std 0.07: class capsules 0.026-0.028
# long at initialisation on random images, 3 seeds (the efficient squash
# is linear near 0 where dynamic routing's is quadratic).
_base_ = [
    '../_base_/models/timm_deit_small_capsule.py',
    '../_base_/datasets/imagenet_bs64_deit.py',
    '../_base_/schedules/imagenet_bs512_adamw_amp.py',
    '../_base_/default_runtime.py'
]

model = dict(
    head=dict(
        routing=dict(_delete_=True, type='SelfAttentionRouting'),
        init_std=0.07))
