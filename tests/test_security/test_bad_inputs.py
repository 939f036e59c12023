"""Bad data and impossible configs end in an error naming the problem,
never in a number: every dataset format mmcaps reads (IDX, .mat), NaN and
infinite pixels at training and at evaluation, and config values that
cannot work."""
import gzip
import re
import struct
from pathlib import Path

import numpy as np
import pytest
from attacks import PoisonPixel  # noqa: F401  registers the transform
from conftest import build_tiny_runner
from mmengine.config import Config
from mmpretrain.registry import DATASETS, MODELS

from mmcaps.datasets import SVHN, AffNIST, MNISTIdx
from mmcaps.utils import md5sum

savemat = pytest.importorskip('scipy.io').savemat

REPO = Path(__file__).resolve().parents[2]
IMAGES, LABELS = 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'


def idx(array: np.ndarray, type_code: int = 0x08) -> bytes:
    header = struct.pack(f'>BBBB{array.ndim}I', 0, 0, type_code, array.ndim,
                         *array.shape)
    return header + array.tobytes()


GOOD_IMAGES = idx(np.zeros((3, 28, 28), np.uint8))
GOOD_LABELS = idx(np.array([1, 2, 3], np.uint8))

# (images file, labels file, message); files are written without .gz
# unless the bytes are a gzip stream.
IDX_CASES = {
    'float32 IDX images': (idx(np.zeros((3, 28, 28), '>f4'), 0x0D),
                           GOOD_LABELS,
                           r'bad magic number 0x00000D03, expected '
                           r'0x000008NN'),
    'images with 2 dimensions': (idx(np.zeros((3, 784), np.uint8)),
                                 GOOD_LABELS,
                                 r'expected 3 dimension\(s\), the header '
                                 r'says 2'),
    'truncated images': (GOOD_IMAGES[:-100], GOOD_LABELS,
                         r'truncated: expected 2352 bytes of data \(3 x 28 x '
                         r'28\) after the header, found 2252'),
    'trailing bytes': (GOOD_IMAGES + b'xx', GOOD_LABELS,
                       r'2 unexpected trailing byte\(s\)'),
    'truncated header': (GOOD_IMAGES[:10], GOOD_LABELS,
                         r'truncated header: expected 12 bytes'),
    'corrupt gzip': (gzip.compress(GOOD_IMAGES)[:-30], GOOD_LABELS,
                     r'corrupt gzip data'),
    '27x27 images': (idx(np.zeros((3, 27, 27), np.uint8)), GOOD_LABELS,
                     r'expected images of shape \(N, 28, 28\), got '
                     r'\(3, 27, 27\)'),
    'label count mismatch': (GOOD_IMAGES, idx(np.array([1, 2], np.uint8)),
                             r'3 images but 2 labels'),
    'label out of range': (GOOD_IMAGES, idx(np.array([1, 12, 3], np.uint8)),
                           r'label 12 at index 1 is outside 0\.\.9 '
                           r'\(1 bad labels\)'),
}


@pytest.mark.parametrize('case', list(IDX_CASES))
def test_bad_idx_files(tmp_path, case):
    images, labels, message = IDX_CASES[case]
    suffix = '.gz' if images[:2] == b'\x1f\x8b' else ''
    (tmp_path / (IMAGES + suffix)).write_bytes(images)
    (tmp_path / LABELS).write_bytes(labels)
    with pytest.raises(ValueError, match=message):
        MNISTIdx(str(tmp_path), split='test', check_md5=False)


def affnist_struct(images=None, labels=None) -> dict:
    images = np.zeros((1600, 2), np.uint8) if images is None else images
    labels = np.array([[1, 2]], np.uint8) if labels is None else labels
    return {'affNISTdata': {'image': images, 'label_int': labels}}


def svhn_vars(images=None, labels=None) -> dict:
    images = (np.zeros((32, 32, 3, 2), np.uint8)
              if images is None else images)
    labels = np.array([[1], [2]], np.uint8) if labels is None else labels
    return {'X': images, 'y': labels}


MAT_CASES = {
    'affNIST float images': (
        'test.mat', affnist_struct(images=np.zeros((1600, 2))),
        r'test\.mat: expected affNISTdata\.image of shape \(1600, N\) uint8, '
        r'got \(1600, 2\) float64'),
    'affNIST fractional labels': (
        'test.mat', affnist_struct(labels=np.array([[1.0, 2.5]])),
        r'test\.mat: label 2\.5 at index 1 is not a whole number'),
    'affNIST NaN label': (
        'test.mat', affnist_struct(labels=np.array([[np.nan, 2.0]])),
        r'test\.mat: label nan at index 0 is not a whole number'),
    'affNIST image count mismatch': (
        'test.mat', affnist_struct(labels=np.array([[1, 2, 3]], np.uint8)),
        r'test\.mat: 2 images but 3 labels'),
    'SVHN float images': (
        'test_32x32.mat', svhn_vars(images=np.zeros((32, 32, 3, 2))),
        r'test_32x32\.mat: expected X of dtype uint8 \(pixels 0\.\.255\), '
        r'got float64'),
    'SVHN fractional labels': (
        'test_32x32.mat', svhn_vars(labels=np.array([[1.5], [2.0]])),
        r'test_32x32\.mat: label 1\.5 at index 0 is not a whole number'),
    'SVHN label 0': (
        'test_32x32.mat', svhn_vars(labels=np.array([[0], [2]], np.uint8)),
        r'test_32x32\.mat: label 0 at index 0 is outside 1\.\.10'),
    'SVHN without labels': (
        'test_32x32.mat', {'X': np.zeros((32, 32, 3, 2), np.uint8)},
        r"test_32x32\.mat: no variable y \(found \['X'\]\)"),
    'SVHN 28x28 images': (
        'test_32x32.mat', svhn_vars(images=np.zeros((28, 28, 1, 2),
                                                    np.uint8)),
        r'expected X of shape \(32, 32, 3, N\) and y of N labels, got X '
        r'\(28, 28, 1, 2\)'),
}


def build_mat_dataset(root: Path, name: str, **kwargs):
    if name == 'test.mat':
        return AffNIST(str(root), **kwargs)
    return SVHN(str(root), split='test', check_md5=False, **kwargs)


@pytest.mark.parametrize('case', list(MAT_CASES))
def test_bad_mat_files(tmp_path, case):
    name, variables, message = MAT_CASES[case]
    savemat(str(tmp_path / name), variables)
    with pytest.raises(ValueError, match=message):
        build_mat_dataset(tmp_path, name)


@pytest.mark.parametrize('name', ['test.mat', 'test_32x32.mat'])
@pytest.mark.parametrize('damage', ['truncated', 'not a .mat file'])
def test_unreadable_mat_files_are_named(tmp_path, name, damage):
    good = {'test.mat': affnist_struct(), 'test_32x32.mat': svhn_vars()}
    path = tmp_path / name
    savemat(str(path), good[name])
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2] if damage == 'truncated' else
                     b'PK\x03\x04 this is a zip archive, not MATLAB')
    dataset = 'AffNIST' if name == 'test.mat' else 'SVHN'
    with pytest.raises(ValueError,
                       match=rf'{dataset}: cannot read .*{re.escape(name)} '
                       r'as a MATLAB file \(.*\); it is truncated, corrupt '
                       r'or not a \.mat file'):
        build_mat_dataset(tmp_path, name)


def test_affnist_checksums(tmp_path):
    savemat(str(tmp_path / 'test.mat'), affnist_struct())
    savemat(str(tmp_path / '1.mat'), affnist_struct())
    good = md5sum(str(tmp_path / 'test.mat'))
    assert len(AffNIST(str(tmp_path), checksums={'test.mat': good})) == 2
    with pytest.raises(ValueError,
                       match=rf'MD5 mismatch for .*test\.mat: expected '
                       rf'{"0" * 32}, found {good}'):
        AffNIST(str(tmp_path), checksums={'test.mat': '0' * 32})
    # A pattern cannot pull in a file the checksums do not list.
    with pytest.raises(ValueError,
                       match=r"1\.mat has no entry in checksums \(which "
                       r"lists \['test\.mat'\]\)"):
        AffNIST(str(tmp_path), mat_files='*.mat',
                checksums={'test.mat': good})


POISONED = '''
custom_imports = dict(imports=['mmcaps', 'attacks'],
                      allow_failed_imports=False)
{split}_dataloader = dict(dataset=dict(pipeline=[
    dict(type='PoisonPixel', value=float('{value}')),
    dict(type='PackInputs')]))
'''
ONE_ITER = '''
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=1)
val_cfg = None
val_dataloader = None
val_evaluator = None
'''


@pytest.mark.parametrize('value', ['nan', 'inf'])
def test_non_finite_pixel_at_training(tiny_mnist_root, tmp_path, value):
    runner = build_tiny_runner(
        tmp_path, tiny_mnist_root,
        ONE_ITER + POISONED.format(split='train', value=value))
    with pytest.raises(FloatingPointError,
                       match=r'Non-finite loss at iteration 1 \(epoch 1\)'):
        runner.train()
    assert not list(tmp_path.glob('*.pth'))


@pytest.mark.parametrize('value', ['nan', '-inf'])
def test_non_finite_pixel_at_evaluation(tiny_mnist_root, tmp_path, value,
                                        capsys):
    runner = build_tiny_runner(
        tmp_path, tiny_mnist_root,
        POISONED.format(split='test', value=value))
    with pytest.raises(ValueError,
                       match=r'the class scores of sample\(s\) \[0, 1, 2, '
                       r'3, 4, 5, 6, 7\] of the batch are not finite'):
        runner.test()
    assert 'accuracy' not in capsys.readouterr().out


@pytest.mark.parametrize('extra,error,message', [
    (ONE_ITER + 'train_dataloader = dict(batch_size=-8)\n', ValueError,
     r'batch_size should be a positive integer value, but got '
     r'batch_size=-8'),
    (ONE_ITER + 'optim_wrapper = dict(optimizer=dict(lr=-0.001))\n',
     ValueError, r'Invalid learning rate: -0\.001'),
])
def test_impossible_training_values(tiny_mnist_root, tmp_path, extra, error,
                                    message):
    runner = build_tiny_runner(tmp_path, tiny_mnist_root, extra)
    with pytest.raises(error, match=message):
        runner.train()
    assert not list(tmp_path.glob('*.pth'))


@pytest.mark.parametrize('model,message', [
    (dict(head=dict(routing=dict(num_iterations=0))),
     r'num_iterations must be a positive integer, got 0'),
    (dict(head=dict(out_dim=0)), r'out_dim'),
    (dict(head=dict(num_classes=-1)), r'num_classes'),
])
def test_impossible_model_values(tiny_mnist_root, tmp_path, model, message):
    cfg = Config.fromfile(REPO / 'configs' / 'capsnet' /
                          'capsnet_r3-recon_1xb128_mnist.py')
    cfg.merge_from_dict({'model': model})
    with pytest.raises(ValueError, match=message):
        MODELS.build(cfg.model)


@pytest.mark.parametrize('dataset,message', [
    (dict(type='MNISTIdx', data_root='x', split='val'),
     r"split must be one of \('train', 'test'\), got 'val'"),
    (dict(type='MlxtendMNIST', num_test_per_class=0),
     r'num_test_per_class must be a positive int, got 0'),
    (dict(type='AffNIST', data_root='x', mat_files=[]),
     r'AffNIST: mat_files must name at least one file'),
    (dict(type='SVHN', data_root='x', split='extra2'),
     r"SVHN: split must be one of \('train', 'test', 'extra'\)"),
])
def test_impossible_dataset_values(dataset, message):
    with pytest.raises(ValueError, match=message):
        DATASETS.build(dataset)


def test_the_good_files_load(tmp_path):
    """The bad cases above differ from these good files only in what they
    name."""
    (tmp_path / IMAGES).write_bytes(GOOD_IMAGES)
    (tmp_path / LABELS).write_bytes(GOOD_LABELS)
    dataset = MNISTIdx(str(tmp_path), split='test', check_md5=False)
    assert [info['gt_label'] for info in dataset.load_data_list()] == [
        1, 2, 3]
    savemat(str(tmp_path / 'test.mat'), affnist_struct())
    assert [info['gt_label'] for info in AffNIST(
        str(tmp_path)).load_data_list()] == [1, 2]
    savemat(str(tmp_path / 'test_32x32.mat'),
            svhn_vars(labels=np.array([[10.0], [2.0]])))
    assert [info['gt_label'] for info in SVHN(
        str(tmp_path), split='test', check_md5=False).load_data_list()] == [
            0, 2]
