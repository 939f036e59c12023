# The paper's affNIST experiment (Sec. 5.2: 79% on affNIST at 99.23% on the
# expanded MNIST test set): CapsNet, 3 routing iterations, reconstruction,
# trained on MNIST digits placed at random on 40x40, tested on
# AffineMNIST. The paper stops the CapsNet early: the best checkpoint on the
# centred 40x40 test digits is kept (best_accuracy_top1_epoch_*.pth).
_base_ = [
    '../_base_/models/capsnet_mnist40.py',
    '../_base_/datasets/mnist40_affine.py',
    '../_base_/schedules/mnist_adam_50e.py', '../_base_/default_runtime.py'
]
default_hooks = dict(
    checkpoint=dict(save_best='accuracy/top1', rule='greater'))
