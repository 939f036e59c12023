"""MultiMNIST: index-addressable generation, bounds, determinism, errors."""
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import DefaultScope
from mmengine.runner import Runner
from torch.utils.data import DataLoader

from mmcaps.datasets import LazySampler, MNISTIdx, MultiMNIST, write_idx

REAL_MNIST = Path(__file__).resolve().parents[2] / '../shared/data/mnist'
BASE = (Path(__file__).resolve().parents[2] /
        'configs/_base_/datasets/multimnist_bs128.py')


def source_cfg(root, split='train'):
    return dict(type='MNISTIdx', data_root=str(root), split=split,
                check_md5=False)


def make(root, **kwargs):
    kwargs.setdefault('pairs_per_digit', 3)
    return MultiMNIST(source_cfg(root), **kwargs)


def bbox(image):
    rows = np.flatnonzero(image.any(axis=1))
    cols = np.flatnonzero(image.any(axis=0))
    return rows[0], rows[-1] + 1, cols[0], cols[-1] + 1


def test_length_canvas_labels_shifts_and_clipping(tiny_mnist_root):
    ds = make(tiny_mnist_root, max_shift=3, pad=5)
    assert len(ds) == 48 * 3
    source = MNISTIdx(tiny_mnist_root, check_md5=False)
    for idx in range(len(ds)):
        info = ds.get_data_info(idx)
        first, second = info['source_indices']
        assert first == idx % 48  # consecutive indices run over the digits
        assert info['img'].shape == (38, 38) and info['img'].dtype == np.uint8
        a, b = info['gt_label']
        assert a != b
        assert [a, b] == [source.get_data_info(int(i))['gt_label']
                          for i in (first, second)]
        digits = info['digit_images']
        assert digits.shape == (2, 1, 38, 38) and digits.dtype == torch.float32
        for k, (dy, dx) in enumerate(info['shifts']):
            assert -3 <= dy <= 3 and -3 <= dx <= 3
            # The random test digits have no empty border row or column,
            # so the bounding box is the pasted 28x28 square.
            single = (digits[k, 0].numpy() * 255).round().astype(np.uint8)
            assert bbox(single) == (5 + dy, 33 + dy, 5 + dx, 33 + dx)
            src = source.get_data_info(int(info['source_indices'][k]))
            np.testing.assert_array_equal(
                single[5 + dy:33 + dy, 5 + dx:33 + dx], src['img'])
        total = (digits[0, 0] + digits[1, 0]).numpy() * 255
        np.testing.assert_array_equal(
            info['img'], np.minimum(total.round(), 255).astype(np.uint8))
    assert (info['img'] == 255).any()  # noise digits overlap: clipping


def test_same_index_same_pixels(tiny_mnist_root):
    a, b = make(tiny_mnist_root), make(tiny_mnist_root)
    for idx in (0, 7, len(a) - 1, -1):
        x, y = a.get_data_info(idx), b.get_data_info(idx)
        np.testing.assert_array_equal(x['img'], y['img'])
        torch.testing.assert_close(x['digit_images'], y['digit_images'])
        assert x['gt_label'].tolist() == y['gt_label'].tolist()
    other = make(tiny_mnist_root, seed=5)
    assert any((other.get_data_info(i)['img'] != a.get_data_info(i)['img'])
               .any() for i in range(4))
    with pytest.raises(IndexError):
        a.get_data_info(len(a))


def test_workers_give_the_same_samples(tiny_mnist_root):
    ds = make(tiny_mnist_root, pipeline=[dict(
        type='PackInputs', algorithm_keys=('digit_images', ))])
    loader = DataLoader(ds, batch_size=5, num_workers=2,
                        sampler=LazySampler(ds, shuffle=True, seed=1),
                        collate_fn=pseudo_collate)
    seen = 0
    for batch in loader:
        for inputs, sample in zip(batch['inputs'], batch['data_samples']):
            ref = ds[sample.sample_idx]
            torch.testing.assert_close(inputs, ref['inputs'])
            torch.testing.assert_close(sample.digit_images,
                                       ref['data_samples'].digit_images)
            assert sample.gt_label.tolist() == \
                ref['data_samples'].gt_label.tolist()
            seen += 1
    assert seen == len(ds)


def test_epochs(tiny_mnist_root):
    train = make(tiny_mnist_root)
    assert train.resample_each_epoch and not train.test_mode
    first = train.get_data_info(3)['img']
    train.set_epoch(1)
    assert (train.get_data_info(3)['img'] != first).any()
    test = MultiMNIST(source_cfg(tiny_mnist_root, 'test'), pairs_per_digit=2)
    assert test.test_mode and not test.resample_each_epoch
    before = test.get_data_info(5)['img']
    test.set_epoch(7)  # the test split never changes
    np.testing.assert_array_equal(test.get_data_info(5)['img'], before)


def pairs_of_epochs(loader, epochs=(0, 1)):
    """{sample index: its two source digits} of each epoch, with the
    sampler's epoch set as DistSamplerSeedHook does."""
    pairs = []
    for epoch in epochs:
        loader.sampler.set_epoch(epoch)
        pairs.append({
            sample.sample_idx: sample.source_indices.tolist()
            for batch in loader for sample in batch['data_samples']})
    return pairs


def base_loader(root, split, seeded=False, **overrides):
    """The dataloader of configs/_base_/datasets/multimnist_bs128.py on the
    tiny MNIST at ``root``, one pairing per digit; with ``seeded``, wrapped
    as ResumableEpochBasedTrainLoop wraps it."""
    cfg = Config.fromfile(str(BASE))[f'{split}_dataloader']
    cfg.dataset.dataset.update(data_root=str(root), check_md5=False)
    cfg.dataset.update(pairs_per_digit=1, pipeline=[
        dict(type='PackInputs', meta_keys=('sample_idx', 'source_indices'))])
    cfg.update(batch_size=16, **overrides)
    if seeded:
        cfg['dataset'] = dict(type='SeededDataset', dataset=cfg.dataset)
        cfg['sampler'] = dict(type='ResumableSampler', sampler=cfg.sampler)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return Runner.build_dataloader(cfg, seed=0)


def changed(a: dict, b: dict) -> int:
    assert a.keys() == b.keys()
    return sum(a[k] != b[k] for k in a)


def test_fresh_training_pairs_each_epoch_with_the_base_config(
        tiny_mnist_root):
    loader = base_loader(tiny_mnist_root, 'train')
    assert loader.num_workers == 2 and not loader.persistent_workers
    first, second = pairs_of_epochs(loader)
    assert len(first) == 48 and changed(first, second) > 40
    dataset = MultiMNIST(source_cfg(tiny_mnist_root), pairs_per_digit=1)
    dataset.set_epoch(1)
    assert second == {
        i: dataset.get_data_info(i)['source_indices'].tolist()
        for i in range(48)}
    test = base_loader(tiny_mnist_root, 'val')
    first, second = pairs_of_epochs(test)
    assert len(first) == 20 and first == second


def test_fresh_training_pairs_with_persistent_workers(tiny_mnist_root):
    # ResumableEpochBasedTrainLoop's wrapping hands the epoch over with each
    # sample: persistent workers draw fresh pairs too.
    expected = pairs_of_epochs(
        base_loader(tiny_mnist_root, 'train', num_workers=0))
    loader = base_loader(tiny_mnist_root, 'train', seeded=True,
                         persistent_workers=True)
    assert pairs_of_epochs(loader) == expected


def test_bad_parameters(tiny_mnist_root, tmp_path):
    with pytest.raises(ValueError, match='max_shift=5 is larger than pad=4'):
        make(tiny_mnist_root, max_shift=5)
    make(tiny_mnist_root, max_shift=6, pad=4, allow_crop=True)[0]
    with pytest.raises(ValueError, match='pairs_per_digit must be'):
        make(tiny_mnist_root, pairs_per_digit=0)
    with pytest.raises(ValueError, match='max_shift must be'):
        make(tiny_mnist_root, max_shift=-1)
    root = tmp_path / 'one_class'
    root.mkdir()
    write_idx(str(root / 'train-images-idx3-ubyte.gz'),
              np.ones((4, 28, 28), np.uint8))
    write_idx(str(root / 'train-labels-idx1-ubyte.gz'),
              np.full(4, 7, np.uint8))
    with pytest.raises(ValueError, match='1 class'):
        make(root)


def test_cropped_shifts_stay_on_the_canvas(tiny_mnist_root):
    ds = make(tiny_mnist_root, max_shift=6, pad=4, allow_crop=True)
    for idx in range(len(ds)):
        info = ds.get_data_info(idx)
        assert info['img'].shape == (36, 36)
        assert np.abs(info['shifts']).max() <= 6


@pytest.mark.skipif(not (REAL_MNIST / 't10k-images-idx3-ubyte.gz').exists(),
                    reason='real MNIST not in ../shared/data/mnist')
def test_real_digits_paper_protocol():
    ds = MultiMNIST(
        dict(type='MNISTIdx', data_root=str(REAL_MNIST), split='test'))
    assert len(ds) == 10_000_000 and ds.canvas_size == 36
    for idx in (0, 1, 4_999_999, 9_999_999):
        info = ds.get_data_info(idx)
        assert info['gt_label'][0] != info['gt_label'][1]
        for k in range(2):
            top, bottom, left, right = bbox(info['digit_images'][k, 0]
                                            .numpy())
            assert 0 <= top and bottom <= 36 and 0 <= left and right <= 36
            dy, dx = info['shifts'][k]
            # Real digits sit inside their 28x28 square: within it after
            # the shift.
            assert 4 + dy <= top and bottom <= 32 + dy
            assert 4 + dx <= left and right <= 32 + dx
