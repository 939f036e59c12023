# Evaluate a checkpoint of cnn-baseline_1xb128_mnist40.py
# on the real affNIST test files
# (http://www.cs.toronto.edu/~tijmen/affNIST/, 32x/transformed/):
# test.mat, or 1.mat .. 32.mat with mat_files='*.mat'.
_base_ = ['./cnn-baseline_1xb128_mnist40.py']
test_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='AffNIST',
        data_root='data/affnist',
        mat_files='test.mat',
        pipeline={{_base_.test_pipeline}}))
