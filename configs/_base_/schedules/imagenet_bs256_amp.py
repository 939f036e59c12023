# mmpretrain's ResNet schedule for a total batch of 256 (SGD, lr 0.1,
# momentum 0.9, weight decay 1e-4, x0.1 at epochs 30, 60 and 90, 100
# epochs) with mixed precision: float16 autocast with dynamic loss scaling
# (AmpOptimWrapper needs a GPU; on CPUs `tools/train.py --amp` swaps it
# for bfloat16 autocast).
_base_ = ['mmpretrain::_base_/schedules/imagenet_bs256.py']

optim_wrapper = dict(type='AmpOptimWrapper', loss_scale='dynamic')
