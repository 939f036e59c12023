# timm ResNet-18 up to layer2 (1-channel input, random init) + capsule head
# on MNIST: the (B, 128, 4, 4) layer2 map of a 28x28 digit gives 512
# primary capsules of 8-D (32 types x 4 x 4 grid), routed (3 iterations) to
# 10 16-D class capsules; margin loss and 28x28 reconstruction. Differs
# from its twin timm-resnet18-layer2_linear-head_1xb128_mnist.py in the
# model base line only (the neck and head).
_base_ = [
    '../_base_/models/timm_resnet18_layer2_mnist_capsule.py',
    '../_base_/datasets/mnist_bs128.py',
    '../_base_/schedules/mnist_adam_50e.py', '../_base_/default_runtime.py'
]
