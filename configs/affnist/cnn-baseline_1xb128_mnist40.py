# The paper's affNIST baseline (Sec. 5.2: 66% on affNIST at 99.22% on the
# expanded MNIST test set), same data, schedule and checkpoint selection as
# the CapsNet beside it.
_base_ = [
    '../_base_/models/cnn_baseline_mnist40.py',
    '../_base_/datasets/mnist40_affine.py',
    '../_base_/schedules/mnist_adam_50e.py', '../_base_/default_runtime.py'
]
default_hooks = dict(
    checkpoint=dict(save_best='accuracy/top1', rule='greater'))
