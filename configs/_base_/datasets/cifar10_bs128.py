# CIFAR-10 with mmpretrain's CIFAR10: the python version's pickles in
# `data_root`/cifar-10-batches-py, MD5-checked (download=True fetches and
# unpacks cifar-10-python.tar.gz). Standard augmentation: random crop with
# 4 px zero padding and horizontal flip.
dataset_type = 'CIFAR10'
data_root = 'data/cifar10'
# (C, H, W) of the network input; tests/test_configs.py feeds this shape.
input_shape = (3, 32, 32)

data_preprocessor = dict(
    num_classes=10,
    mean=[125.307, 122.961, 113.8575],
    std=[51.5865, 50.847, 51.255],
    to_rgb=False)

train_pipeline = [
    dict(type='RandomCrop', crop_size=32, padding=4),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
# FitInputShape: image files (any size, grey or colour) for the inferencers;
# the dataset's 32x32 arrays pass untouched.
test_pipeline = [
    dict(type='FitInputShape', shape=input_shape),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=128,
    num_workers=2,
    persistent_workers=True,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        download=False,
        pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True),
)
val_dataloader = dict(
    batch_size=256,
    num_workers=2,
    persistent_workers=True,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='test',
        download=False,
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
val_evaluator = dict(type='Accuracy', topk=(1, ))

test_dataloader = val_dataloader
test_evaluator = val_evaluator
