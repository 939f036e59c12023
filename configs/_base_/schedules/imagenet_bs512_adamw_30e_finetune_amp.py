# Fine-tuning a pretrained transformer trunk with a new head, total batch
# 512: imagenet_bs512_adamw_amp.py's AdamW at lr 1e-4 for the head and
# neck and 1e-5 for the backbone, 2 warm-up epochs, cosine decay to 1e-6
# over 30 epochs. A starting point, not tuned.
_base_ = ['./imagenet_bs512_adamw_amp.py']

# Only the first matching key applies, longest first: the trunk's position
# embedding and class token say their lr_mult again.
optim_wrapper = dict(
    optimizer=dict(lr=1e-4),
    paramwise_cfg=dict(
        custom_keys={
            'backbone': dict(lr_mult=0.1),
            '.cls_token': dict(decay_mult=0.0, lr_mult=0.1),
            '.pos_embed': dict(decay_mult=0.0, lr_mult=0.1)
        }))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-3,
        by_epoch=True,
        end=2,
        convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True, begin=2)
]
train_cfg = dict(max_epochs=30)
