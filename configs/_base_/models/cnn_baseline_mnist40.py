# The baseline CNN of Sabour et al. (2017) on 40x40 inputs (the affNIST
# experiment): the MNIST baseline (conv 256, 256, 128 at 5x5 'same', FC 328,
# FC 192, dropout, 10-way softmax) with a 2x2 max pool after the last
# convolution, as the paper's affNIST CNN has max pooling and a number of
# parameters similar to the CapsNet's (13.48 M): 40 -> 20, FC input
# 128x20x20. 19,323,666 parameters (without the pool: 69,704,466).
_base_ = ['./cnn_baseline_mnist.py']
model = dict(
    backbone=dict(input_size=(40, 40), pool=(False, False, True)))
