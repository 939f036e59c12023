# The paper's MultiMNIST baseline CNN (Table 1: 8.1% error), same data and
# schedule as the CapsNet beside it.
_base_ = [
    '../_base_/models/cnn_baseline_multimnist.py',
    '../_base_/datasets/multimnist_bs128.py',
    '../_base_/schedules/mnist_adam_50e.py', '../_base_/default_runtime.py'
]
train_cfg = dict(max_epochs=1)
