# MultiMNIST (Sabour et al. 2017, Sec. 6): two MNIST digits of different
# classes, each shifted by up to `max_shift` px, overlaid on a
# (28 + 2 * pad)-square canvas, generated on the fly from the sample index.
# The paper's protocol: max_shift 4, pad 4 (36x36), 1,000 pairings per
# digit = 60 M training and 10 M test samples. The official code's
# generator uses max_shift 6, pad 4 (add allow_crop=True).
# Quick runs: --cfg-options train_dataloader.dataset.pairs_per_digit=1 ...
data_root = 'data/mnist'
max_shift = 4
pad = 4
pairs_per_digit = 1000
# The network input (C, H, W): the canvas.
input_shape = (1, 28 + 2 * pad, 28 + 2 * pad)

data_preprocessor = dict(num_classes=10, mean=[0.], std=[255.], to_rgb=False)

# The two single shifted digits travel in the data sample as the
# per-digit reconstruction targets.
train_pipeline = [dict(type='PackInputs', algorithm_keys=('digit_images', ))]
# FitInputShape: image files (any size, grey or colour) for the inferencers;
# the dataset's canvases pass untouched.
test_pipeline = [
    dict(type='FitInputShape', shape=input_shape),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=128,
    num_workers=2,
    # Fresh pairs each epoch: LazySampler hands the epoch to MultiMNIST in
    # the main process, which workers see only when re-created each epoch
    # (ResumableEpochBasedTrainLoop hands it over with every sample).
    persistent_workers=False,
    dataset=dict(
        type='MultiMNIST',
        dataset=dict(type='MNISTIdx', data_root=data_root, split='train'),
        pairs_per_digit=pairs_per_digit,
        max_shift=max_shift,
        pad=pad,
        seed=0,
        pipeline=train_pipeline),
    # DefaultSampler would build a list of all 60 M indices each epoch.
    sampler=dict(type='LazySampler', shuffle=True),
)
val_dataloader = dict(
    batch_size=256,
    num_workers=2,
    persistent_workers=True,
    dataset=dict(
        type='MultiMNIST',
        dataset=dict(type='MNISTIdx', data_root=data_root, split='test'),
        pairs_per_digit=pairs_per_digit,
        max_shift=max_shift,
        pad=pad,
        # A fixed seed: the same 10 M test pairs every time.
        seed=1,
        pipeline=test_pipeline),
    sampler=dict(type='LazySampler', shuffle=False),
)
# Right only when both digits are (the paper's error = two_digit/error).
val_evaluator = dict(type='TwoDigitAccuracy')

test_dataloader = val_dataloader
test_evaluator = val_evaluator
