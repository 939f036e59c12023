"""Bad configs and data stop a run with a clear error, at build time or at
the first batch, through the Runner (as ``tools/train.py`` and
``tools/test.py`` would), and extreme inputs keep the loss finite."""
import pytest
import torch
from conftest import build_tiny_runner
from mmpretrain.structures import DataSample

from mmcaps.models.heads import DigitCapsHead

# One iteration, no validation, no checkpoint before the first batch.
ONE_ITER = '''
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=1)
val_cfg = None
val_dataloader = None
val_evaluator = None
'''


def test_image_size_that_does_not_fit_the_capsule_grid(
        tiny_mnist_root, tmp_path):
    # 32x32 images give an 8x8 primary grid: 2 * 64 capsules, not 72.
    runner = build_tiny_runner(
        tmp_path, tiny_mnist_root, ONE_ITER + '''
train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='Resize', scale=(32, 32)), dict(type='PackInputs')]))
''')
    with pytest.raises(ValueError,
                       match=r'expects capsules of shape \(B, 72, 4\), got '
                       r'\(16, 128, 4\); check that the input image size'):
        runner.train()


def test_num_classes_of_head_and_dataset_differ(tiny_mnist_root, tmp_path):
    runner = build_tiny_runner(tmp_path, tiny_mnist_root,
                               ONE_ITER + 'model = dict(head=dict('
                               'num_classes=5))\n')
    message = (r'DigitCapsHead `head` has num_classes=5, but MNISTIdx has '
               r'10 classes')
    with pytest.raises(ValueError, match=message):
        runner.train()
    assert runner.iter == 0
    assert not list(tmp_path.glob('*.pth'))
    with pytest.raises(ValueError, match=message):
        runner.test()


@pytest.mark.parametrize('routing,message', [
    (dict(type='NoSuchRouting'),
     r"Unknown routing type 'NoSuchRouting'; registered routing "
     r"algorithms: \[.*'DynamicRouting'"),
    (dict(type='DynamicRouting', num_iterations=0),
     r'num_iterations must be a positive integer, got 0'),
])
def test_bad_routing_fails_when_the_runner_is_built(tiny_mnist_root,
                                                    tmp_path, routing,
                                                    message):
    with pytest.raises(ValueError, match=message):
        build_tiny_runner(tmp_path, tiny_mnist_root,
                          ONE_ITER + f'model = dict(head=dict(routing='
                          f'dict(_delete_=True, **{routing!r})))\n')


def test_label_outside_the_class_range(tiny_mnist_root, tmp_path):
    # The metainfo claims 5 classes, matching the head, but the labels go
    # up to 9: the class-number check passes, the first batch does not.
    runner = build_tiny_runner(
        tmp_path, tiny_mnist_root, ONE_ITER + '''
data_preprocessor = dict(num_classes=5)
model = dict(head=dict(num_classes=5))
train_dataloader = dict(
    dataset=dict(metainfo=dict(classes=['0', '1', '2', '3', '4'])))
''')
    with pytest.raises(ValueError,
                       match=r'label [5-9] is outside the class range '
                       r'\[0, 4\]'):
        runner.train()


@pytest.mark.parametrize('magnitude', [1e3, 1e10, 1e18])
def test_huge_capsules_keep_the_head_loss_finite(magnitude):
    torch.manual_seed(0)
    head = DigitCapsHead(
        num_classes=4, in_capsules=12, in_dim=8, out_dim=6,
        decoder=dict(type='CapsuleDecoder', out_shape=(1, 5, 5),
                     hidden_dims=(7, )))
    feats = torch.full((2, 12, 8), magnitude, requires_grad=True)
    samples = [DataSample().set_gt_label(label) for label in (1, 2)]
    losses = head.loss((feats, ), samples, images=torch.rand(2, 1, 5, 5))
    sum(losses.values()).backward()
    for name, loss in losses.items():
        assert loss.isfinite(), name
    assert feats.grad.isfinite().all()
    for name, param in head.named_parameters():
        assert param.grad.isfinite().all(), name
