# Fashion-MNIST with mmpretrain's FashionMNIST, with the same pixels-in-[0, 1]
# input and 2 px random shift as mnist_bs128.py. mmpretrain reads the four
# IDX files GUNZIPPED in `data_root` (train-images-idx3-ubyte,
# train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte)
# and picks the split by `test_mode` alone (its `split` is ignored), so the
# test loader sets test_mode=True.
_base_ = ['./mnist_bs128.py']

dataset_type = 'FashionMNIST'
data_root = 'data/fashion-mnist'

train_dataloader = dict(
    dataset=dict(type=dataset_type, data_root=data_root, test_mode=False))
val_dataloader = dict(
    dataset=dict(type=dataset_type, data_root=data_root, test_mode=True))
test_dataloader = val_dataloader
