# SVHN cropped digits (mmcaps' SVHN): train_32x32.mat and test_32x32.mat
# from http://ufldl.stanford.edu/housenumbers/ in `data_root`, MD5-checked,
# read with SciPy. 73,257 training and 26,032 test images; the 531,131
# `extra` images are left out (split='extra' reads them). Augmentation: a
# random shift of up to 2 px, no flip (digits).
dataset_type = 'SVHN'
data_root = 'data/svhn'
# (C, H, W) of the network input; tests/test_configs.py feeds this shape.
input_shape = (3, 32, 32)

# Per-channel mean and std of the SVHN training set, in 0..255.
data_preprocessor = dict(
    num_classes=10,
    mean=[111.61, 113.16, 120.57],
    std=[50.50, 51.26, 50.24],
    to_rgb=False)

train_pipeline = [
    dict(type='RandomCrop', crop_size=32, padding=2),
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
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
val_evaluator = dict(type='Accuracy', topk=(1, ))

test_dataloader = val_dataloader
test_evaluator = val_evaluator
