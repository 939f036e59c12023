# A one-epoch budget: Adam, lr 1e-3 annealed to zero over the epoch (a
# short run needs the whole decay, not the paper's slow x0.96 steps).
optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-3))
param_scheduler = dict(
    type='CosineAnnealingLR',
    by_epoch=True,
    T_max=1,
    eta_min=0.,
    convert_to_iter_based=True)
train_cfg = dict(
    type='ResumableEpochBasedTrainLoop', max_epochs=1, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=32)
