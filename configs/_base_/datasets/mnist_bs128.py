# MNIST from the four standard IDX .gz files in `data_root`
# (download=True fetches them from working mirrors, MD5-checked).
dataset_type = 'MNISTIdx'
data_root = 'data/mnist'
# (C, H, W) of the network input; tests/test_configs.py feeds this shape.
input_shape = (1, 28, 28)

# The paper feeds raw [0, 1] pixels; CapsNetClassifier undoes any
# normalisation for the reconstruction target anyway.
data_preprocessor = dict(num_classes=10, mean=[0.], std=[255.], to_rgb=False)

# The paper's only augmentation: a random shift of up to 2 px, zero padded.
train_pipeline = [
    dict(type='RandomCrop', crop_size=28, padding=2, pad_val=0),
    dict(type='PackInputs'),
]
# FitInputShape: image files (any size, grey or colour) for the inferencers;
# the dataset's 28x28 arrays pass untouched.
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
