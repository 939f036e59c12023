# The paper's baseline CNN on the CapsNet's three-epoch CPU budget
# (capsnet_r3-recon_1xb32-3e_mnist.py): same data, shift, batch and schedule.
_base_ = [
    '../_base_/models/cnn_baseline_mnist.py',
    '../_base_/datasets/mnist_bs128.py',
    '../_base_/schedules/adam_cosine_1e.py', '../_base_/default_runtime.py'
]

train_dataloader = dict(batch_size=32)
param_scheduler = dict(T_max=3)
train_cfg = dict(max_epochs=3)
