# The official code's optimiser: Adam, lr 1e-3, decayed x0.96 every 2000
# iterations, batch 128.
optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-3))
param_scheduler = dict(
    type='StepLR', by_epoch=False, step_size=2000, gamma=0.96)

# mmengine's epoch loop, but a resume from a mid-epoch checkpoint skips the
# batches already trained and each sample's augmentation depends only on
# (seed, epoch, index): resumed runs equal uninterrupted ones.
train_cfg = dict(
    type='ResumableEpochBasedTrainLoop', max_epochs=50, val_interval=1)
val_cfg = dict()
test_cfg = dict()

# Linear scaling with --auto-scale-lr for other total batch sizes.
auto_scale_lr = dict(base_batch_size=128)
