# The paper's model: 3 routing iterations + reconstruction (Table 1, 0.25%).
_base_ = [
    '../_base_/models/capsnet_mnist.py', '../_base_/datasets/mnist_bs128.py',
    '../_base_/schedules/mnist_adam_50e.py', '../_base_/default_runtime.py'
]
