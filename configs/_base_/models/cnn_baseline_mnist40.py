# The baseline CNN of Sabour et al. (2017) on 40x40 inputs (the affNIST
# experiment): the MNIST baseline (conv 256, 256, 128 at 5x5 'same', FC 328,
# FC 192, dropout, 10-way softmax) with 2x2 max pooling after the first two
# convolutions, 40 -> 20 -> 10, FC input 128x10x10, as the MultiMNIST
# baseline pools. The paper gives its affNIST CNN only "max pooling",
# "dropout" and a number of parameters similar to the CapsNet's (13.48 M,
# 11.23 M without the decoder): 6,728,466 parameters. Without pooling the
# convolutions at 40x40 cost a training step 4.3x the CapsNet's on a CPU.
_base_ = ['./cnn_baseline_mnist.py']
model = dict(
    backbone=dict(input_size=(40, 40), pool=(True, True, False)))
