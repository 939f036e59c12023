# ImageNet-1k with mmpretrain's ImageNet dataset and its DeiT/Swin training
# pipeline (random resized crop to 224, flip, RandAugment, random erasing;
# test: short edge 256, centre crop 224, bicubic), batch 64 per GPU; data
# in data/imagenet as mmpretrain expects. Mixup and CutMix, which DeiT adds
# in its model config, are left out: the capsule heads' margin loss takes
# class labels, not mixed label scores.
_base_ = ['mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py']

# (C, H, W) of the network input; tests/test_configs.py feeds this shape.
input_shape = (3, 224, 224)
