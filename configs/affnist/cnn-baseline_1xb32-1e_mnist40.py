# The affNIST experiment on a one-epoch CPU budget: the 60,000 training
# digits once, batch 32, lr annealed to zero. A checkpoint every 375
# iterations (5 per epoch), all kept, to compare the two models at matched
# accuracy on the centred test digits.
_base_ = [
    '../_base_/models/cnn_baseline_mnist40.py',
    '../_base_/datasets/mnist40_affine.py',
    '../_base_/schedules/adam_cosine_1e.py', '../_base_/default_runtime.py'
]
train_dataloader = dict(batch_size=32)
default_hooks = dict(
    checkpoint=dict(by_epoch=False, interval=375, max_keep_ckpts=-1))
