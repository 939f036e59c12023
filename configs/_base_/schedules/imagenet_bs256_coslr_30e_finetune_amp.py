# Fine-tuning a pretrained trunk with a new head, total batch 256: SGD
# (momentum 0.9, weight decay 1e-4) at lr 0.01 for the head and neck and
# 0.001 for the backbone, cosine decay over 30 epochs, mixed precision as
# imagenet_bs256_amp.py. A starting point, not tuned.
_base_ = ['mmpretrain::_base_/schedules/imagenet_bs256_coslr.py']

optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(lr=0.01),
    paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.1)}))
param_scheduler = dict(T_max=30, end=30)
train_cfg = dict(max_epochs=30)
