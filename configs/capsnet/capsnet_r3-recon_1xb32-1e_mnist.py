# The paper's model on a one-epoch budget at batch 32: 1,875 steps with the
# learning rate annealed to zero over the epoch, the 2 px shift kept.
_base_ = ['./capsnet_r3-recon_1xb64-1e_mnist.py']

train_dataloader = dict(batch_size=32)

auto_scale_lr = dict(base_batch_size=32)
