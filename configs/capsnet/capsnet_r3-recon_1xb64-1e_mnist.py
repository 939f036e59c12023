# The paper's model (3 routing iterations + reconstruction, 2 px shift) on a
# one-epoch budget: batch 64 and the learning rate annealed to zero over the
# epoch, as a short schedule needs, instead of the paper's slow x0.96 decay.
_base_ = [
    '../_base_/models/capsnet_mnist.py', '../_base_/datasets/mnist_bs128.py',
    '../_base_/schedules/adam_cosine_1e.py', '../_base_/default_runtime.py'
]

train_dataloader = dict(batch_size=64)

auto_scale_lr = dict(base_batch_size=64)
