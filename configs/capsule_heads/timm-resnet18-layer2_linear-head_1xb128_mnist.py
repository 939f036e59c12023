# timm ResNet-18 up to layer2 (1-channel input, random init) + global
# average pooling + linear head on MNIST: the CNN twin of
# timm-resnet18-layer2_capsule-head_1xb128_mnist.py (same trunk, data,
# schedule and runtime as the CapsNet configs).
_base_ = [
    '../_base_/models/timm_resnet18_layer2_mnist.py',
    '../_base_/datasets/mnist_bs128.py',
    '../_base_/schedules/mnist_adam_50e.py', '../_base_/default_runtime.py'
]
