"""SVHN from stand-in .mat files of the official format."""
import sys

import numpy as np
import pytest

from mmcaps.datasets import SVHN

savemat = pytest.importorskip('scipy.io').savemat


def write_svhn_mat(path, labels, seed=0):
    """An SVHN-format file: X (32, 32, 3, N) uint8, y (N, 1) in 1..10."""
    labels = np.asarray(labels, dtype=np.uint8)
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (32, 32, 3, len(labels)), dtype=np.uint8)
    savemat(str(path), {'X': images, 'y': labels[:, None]})
    return images


def test_reads_images_and_maps_label_10_to_digit_0(tmp_path):
    images = write_svhn_mat(tmp_path / 'train_32x32.mat', [10, 1, 9, 10])
    ds = SVHN(str(tmp_path), split='train', check_md5=False)
    assert len(ds) == 4 and not ds.test_mode
    assert [ds.get_data_info(i)['gt_label'] for i in range(4)] == [0, 1, 9, 0]
    img = ds.get_data_info(2)['img']
    assert img.shape == (32, 32, 3) and img.dtype == np.uint8
    np.testing.assert_array_equal(img, images[..., 2])
    assert ds.metainfo['classes'] == tuple('0123456789')


def test_split_picks_the_file(tmp_path):
    write_svhn_mat(tmp_path / 'train_32x32.mat', [1, 2, 3])
    write_svhn_mat(tmp_path / 'test_32x32.mat', [4, 5])
    ds = SVHN(str(tmp_path), split='test', check_md5=False)
    assert len(ds) == 2 and ds.test_mode


def test_pipeline_packs_chw_tensor(tmp_path):
    write_svhn_mat(tmp_path / 'test_32x32.mat', [3])
    ds = SVHN(str(tmp_path), split='test', check_md5=False,
              pipeline=[dict(type='PackInputs')])
    sample = ds[0]
    assert sample['inputs'].shape == (3, 32, 32)
    assert sample['data_samples'].gt_label.tolist() == [3]


def test_bad_split():
    with pytest.raises(ValueError, match='split must be one of'):
        SVHN('nowhere', split='val')


def test_missing_file_names_the_url(tmp_path):
    with pytest.raises(FileNotFoundError,
                       match='ufldl.stanford.edu/housenumbers/test_32x32'):
        SVHN(str(tmp_path), split='test')


def test_md5_mismatch(tmp_path):
    write_svhn_mat(tmp_path / 'train_32x32.mat', [1])
    with pytest.raises(ValueError, match='MD5 mismatch'):
        SVHN(str(tmp_path))


def test_bad_labels_and_shapes(tmp_path):
    write_svhn_mat(tmp_path / 'train_32x32.mat', [1, 0, 11])
    with pytest.raises(ValueError, match=r'label 0 at index 1 .* \(2 bad'):
        SVHN(str(tmp_path), check_md5=False)
    savemat(str(tmp_path / 'test_32x32.mat'),
            {'X': np.zeros((28, 28, 1, 2), np.uint8),
             'y': np.ones((2, 1), np.uint8)})
    with pytest.raises(ValueError, match=r'expected X of shape'):
        SVHN(str(tmp_path), split='test', check_md5=False)


def test_without_scipy(tmp_path, monkeypatch):
    write_svhn_mat(tmp_path / 'train_32x32.mat', [1])
    # A None entry makes `import scipy.io` raise ImportError.
    monkeypatch.setitem(sys.modules, 'scipy.io', None)
    with pytest.raises(ImportError, match='pip install scipy'):
        SVHN(str(tmp_path), check_md5=False)
