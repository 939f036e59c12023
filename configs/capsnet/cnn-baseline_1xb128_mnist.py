# The paper's baseline CNN (Table 1, 0.39%), same data and schedule as the
# CapsNet configs beside it.
_base_ = [
    '../_base_/models/cnn_baseline_mnist.py',
    '../_base_/datasets/mnist_bs128.py',
    '../_base_/schedules/mnist_adam_50e.py', '../_base_/default_runtime.py'
]
