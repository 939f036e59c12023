# DeiT's schedule (mmpretrain's AdamW schedule of DeiT/Swin: weight decay
# 0.05, none on norms, biases, position embedding and class token, 20
# warm-up epochs, cosine decay to 1e-5 over 300 epochs, gradients clipped
# at norm 5) for a total batch of 512 (8 GPUs x 64): lr 5e-4, DeiT's
# 5e-4 x batch / 512; mixed precision as imagenet_bs256_amp.py.
_base_ = ['mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py']

optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(lr=5e-4),
    paramwise_cfg=dict(
        custom_keys={
            '.cls_token': dict(decay_mult=0.0),
            '.pos_embed': dict(decay_mult=0.0)
        }),
    clip_grad=dict(max_norm=5.0))
auto_scale_lr = dict(base_batch_size=512)
