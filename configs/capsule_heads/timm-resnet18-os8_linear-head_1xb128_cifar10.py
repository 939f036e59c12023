# timm ResNet-18 (output stride 8, random init) + global average pooling +
# linear head on CIFAR-10: the CNN twin of
# timm-resnet18-os8_capsule-head_1xb128_cifar10.py (same trunk, data,
# schedule and runtime).
_base_ = [
    '../_base_/models/timm_resnet18_os8.py',
    '../_base_/datasets/cifar10_bs128.py',
    '../_base_/schedules/adam_cosine_100e.py',
    '../_base_/default_runtime.py'
]
