# The affNIST experiment of Sabour et al. (2017, Sec. 5.2): train on MNIST
# digits placed at random on a black 40x40 canvas (shifts of -6..6 px from
# the centre, as the official code's `mnist_shift.py --shift=6 --pad=6`),
# validate on the test digits centred on 40x40 (`--shift=0 --pad=6`, the
# "expanded MNIST test set"), test on affine-transformed test digits.
# The test set is `AffineMNIST`, generated from the MNIST test digits (32
# transforms each, 320,000 images, like affNIST's test set); the
# `*_test-affnist.py` configs beside the models read the real affNIST files.
data_root = 'data/mnist'
canvas_size = 40
# The network input (C, H, W).
input_shape = (1, canvas_size, canvas_size)

data_preprocessor = dict(num_classes=10, mean=[0.], std=[255.], to_rgb=False)

train_pipeline = [
    dict(type='RandomPlacement', canvas_size=canvas_size),
    dict(type='PackInputs'),
]
val_pipeline = [
    dict(type='CenterPlacement', canvas_size=canvas_size),
    dict(type='PackInputs'),
]
# FitInputShape: image files (any size, grey or colour) for the inferencers;
# the dataset's 40x40 arrays pass untouched.
test_pipeline = [
    dict(type='FitInputShape', shape=input_shape),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=128,
    num_workers=2,
    persistent_workers=True,
    dataset=dict(
        type='MNISTIdx',
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
        type='MNISTIdx',
        data_root=data_root,
        split='test',
        pipeline=val_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
val_evaluator = dict(type='Accuracy', topk=(1, ))

test_dataloader = dict(
    batch_size=256,
    num_workers=2,
    persistent_workers=True,
    dataset=dict(
        type='AffineMNIST',
        dataset=dict(type='MNISTIdx', data_root=data_root, split='test'),
        transforms_per_digit=32,
        max_rotation=20.0,
        max_shear=45.0,
        scale_range=(0.8, 1.2),
        translate=True,
        canvas_size=canvas_size,
        seed=0,
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
test_evaluator = dict(type='Accuracy', topk=(1, ))
