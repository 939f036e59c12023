# timm-resnet50_capsule-head_8xb32_in1k.py with self-attention routing
# (Efficient-CapsNet's) instead of dynamic routing: one pass, learned log
# priors (1,000 x 1,568 = 1,568,000 more parameters). It routes the formed
# votes, (B, 1000, 1568, 16): 96 MiB per image in fp32, half under fp16
# autocast, kept for backward. init_std 1.0: class capsules 0.022-0.037
# long at initialisation on random images, 3 seeds (the efficient squash
# is linear near 0 where dynamic routing's is quadratic).
_base_ = [
    '../_base_/models/timm_resnet50_capsule.py',
    '../_base_/datasets/imagenet_bs32.py',
    '../_base_/schedules/imagenet_bs256_amp.py',
    '../_base_/default_runtime.py'
]

model = dict(
    head=dict(
        routing=dict(_delete_=True, type='SelfAttentionRouting'),
        init_std=1.0))
