# The paper's model (3 routing iterations + reconstruction, 2 px shift) on a
# one-epoch budget: batch 64 and the learning rate annealed to zero over the
# epoch, as a short schedule needs, instead of the paper's slow x0.96 decay.
_base_ = ['./capsnet_r3-recon_1xb128_mnist.py']

train_dataloader = dict(batch_size=64)

param_scheduler = dict(
    _delete_=True,
    type='CosineAnnealingLR',
    by_epoch=True,
    T_max=1,
    eta_min=0.,
    convert_to_iter_based=True)

train_cfg = dict(
    type='ResumableEpochBasedTrainLoop', max_epochs=1, val_interval=1)

auto_scale_lr = dict(base_batch_size=64)
