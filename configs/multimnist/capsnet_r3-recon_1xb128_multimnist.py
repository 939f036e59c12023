# The paper's MultiMNIST CapsNet (Table 1: 5.2% error): 3 routing
# iterations, per-digit reconstruction; shift 4 on 36x36, 1,000 pairs per
# digit. One epoch is 60 M pairs (469k iterations at batch 128).
_base_ = [
    '../_base_/models/capsnet_multimnist.py',
    '../_base_/datasets/multimnist_bs128.py',
    '../_base_/schedules/mnist_adam_50e.py', '../_base_/default_runtime.py'
]
train_cfg = dict(max_epochs=1)
