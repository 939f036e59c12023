# MNIST held as one uint8 tensor (on the GPU when there is one), served a
# batch at a time, with the paper's random shift done batch-wise by the data
# preprocessor: no per-sample Python pipeline. Same data and augmentation as
# mnist_bs128.py.
_base_ = ['./mnist_bs128.py']

data_preprocessor = dict(type='RandomShiftDataPreprocessor', random_shift=2)

train_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    collate_fn=dict(type='batched_collate'),
    dataset=dict(
        _delete_=True,
        type='InMemoryDataset',
        device='auto',
        dataset=dict(
            type={{_base_.dataset_type}},
            data_root={{_base_.data_root}},
            split='train',
            download=False,
            pipeline=[])))
val_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    collate_fn=dict(type='batched_collate'),
    dataset=dict(
        _delete_=True,
        type='InMemoryDataset',
        device='auto',
        dataset=dict(
            type={{_base_.dataset_type}},
            data_root={{_base_.data_root}},
            split='test',
            download=False,
            pipeline=[])))
# test_dataloader stays mnist_bs128.py's per-sample one: tools/test.py makes
# one pass, and the inferencers build their pipeline from its test pipeline.
