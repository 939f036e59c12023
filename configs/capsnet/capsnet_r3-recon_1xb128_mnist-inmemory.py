# The paper's model with the in-memory, batch-wise data path (see
# configs/_base_/datasets/mnist_inmemory_bs128.py): for GPUs, where the
# per-sample pipeline would be the bottleneck.
_base_ = [
    '../_base_/models/capsnet_mnist.py',
    '../_base_/datasets/mnist_inmemory_bs128.py',
    '../_base_/schedules/mnist_adam_50e.py', '../_base_/default_runtime.py'
]
