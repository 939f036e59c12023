# mmpretrain ResNet_CIFAR-18 (random init) + global average pooling +
# linear head on CIFAR-10: the CNN twin of
# resnet18-cifar_capsule-head_1xb128_cifar10.py.
_base_ = [
    '../_base_/models/resnet18_cifar.py',
    '../_base_/datasets/cifar10_bs128.py',
    '../_base_/schedules/adam_cosine_100e.py',
    '../_base_/default_runtime.py'
]
