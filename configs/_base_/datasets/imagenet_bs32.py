# ImageNet-1k with mmpretrain's ImageNet dataset and its standard ResNet
# pipeline (random resized crop to 224 + flip; test: short edge 256, centre
# crop 224), batch 32 per GPU; data in data/imagenet as mmpretrain expects
# (train/, val/ and meta/{train,val}.txt).
_base_ = ['mmpretrain::_base_/datasets/imagenet_bs32.py']

# (C, H, W) of the network input; tests/test_configs.py feeds this shape.
input_shape = (3, 224, 224)
