# Adam, lr 1e-3 with cosine decay to 0 over the run (updated every
# iteration), 100 epochs at batch 128: one schedule for both heads of a twin
# pair, not tuned for either.
optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-3))
# No `end`/`T_max`: the Runner sets them to max_epochs, so overriding
# train_cfg.max_epochs keeps a full cosine.
param_scheduler = dict(
    type='CosineAnnealingLR', by_epoch=True, convert_to_iter_based=True)

# mmengine's epoch loop, but a resume from a mid-epoch checkpoint skips the
# batches already trained and each sample's augmentation depends only on
# (seed, epoch, index): resumed runs equal uninterrupted ones.
train_cfg = dict(
    type='ResumableEpochBasedTrainLoop', max_epochs=100, val_interval=1)
val_cfg = dict()
test_cfg = dict()

# Linear scaling with --auto-scale-lr for other total batch sizes.
auto_scale_lr = dict(base_batch_size=128)
