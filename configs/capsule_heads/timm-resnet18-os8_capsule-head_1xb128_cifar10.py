# timm ResNet-18 (output stride 8, random init) + capsule head on CIFAR-10:
# 512 primary capsules of 8-D (32 types x 4 x 4 grid), 10 16-D class
# capsules, 3 routing iterations, 3x32x32 reconstruction. Differs from its
# twin timm-resnet18-os8_linear-head_1xb128_cifar10.py in the model base
# line only (the neck and head).
_base_ = [
    '../_base_/models/timm_resnet18_os8_capsule.py',
    '../_base_/datasets/cifar10_bs128.py',
    '../_base_/schedules/adam_cosine_100e.py',
    '../_base_/default_runtime.py'
]
