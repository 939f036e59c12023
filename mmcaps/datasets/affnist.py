"""affNIST: MNIST digits under random affine transforms, from its .mat
files."""
import glob
import os.path as osp
import re
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
from mmpretrain.datasets import BaseDataset
from mmpretrain.datasets.categories import MNIST_CATEGORITES
from mmpretrain.registry import DATASETS

from .utils import check_labels, check_md5, load_mat

__all__ = ['AffNIST']

_URL = 'http://www.cs.toronto.edu/~tijmen/affNIST/'
_SIDE = 40
_STRUCT = 'affNISTdata'


def _natural_key(path: str) -> list:
    """Sort ``2.mat`` before ``10.mat``."""
    return [int(part) if part.isdigit() else part
            for part in re.split(r'(\d+)', osp.basename(path))]


@DATASETS.register_module()
class AffNIST(BaseDataset):
    """The affNIST dataset (Tieleman), read from its MATLAB files with SciPy.

    affNIST (http://www.cs.toronto.edu/~tijmen/affNIST/) holds MNIST
    digits under random affine transforms on 40x40 images, 32 versions of
    each digit; its test set transforms the 10,000 MNIST test digits
    (320,000 images). Download from that page, under ``32x/transformed/``,
    ``test.mat.zip`` (one ``test.mat``) or ``test_batches.zip``
    (``1.mat`` .. ``32.mat``, 10,000 images each) and unzip into
    ``data_root``. The ``32x/just_centered/`` files (the digits centred on
    40x40) have the same layout and load too.

    Each file holds a struct ``affNISTdata`` whose ``image`` field is a
    ``(1600, N)`` uint8 array, one image per column stored row by row (as
    the official CapsNet code reads it: ``image[:, n].reshape(40, 40)``),
    and whose ``label_int`` field holds the ``N`` labels 0..9. Each data
    info is ``{'img': (40, 40) uint8 array, 'gt_label': int}``, in file
    order, files in the order of ``mat_files``.

    The affNIST page publishes no checksums, so none are built in: record
    the MD5s of the files you downloaded (``md5sum *.mat``) and pass them as
    ``checksums`` to have every later read verified.

    Args:
        data_root: The folder holding the ``.mat`` files.
        mat_files: File names in ``data_root``, or glob patterns (such as
            ``'*.mat'``) whose matches are read in natural order (``2.mat``
            before ``10.mat``).
        checksums: The MD5 of each file, by file name (``{'test.mat':
            '...'}``). When given, every file read must be listed and
            match, so that a pattern cannot pull in an unchecked file.
        test_mode: Passed to ``BaseDataset``.
        **kwargs: Other arguments of ``mmpretrain.datasets.BaseDataset``
            (``pipeline``, ``indices``, ...).

    Raises:
        FileNotFoundError: A file missing, or a pattern matching nothing.
        ValueError: A file that is not a readable MATLAB file, without the
            ``affNISTdata`` struct or its fields, images not of shape
            ``(1600, N)`` uint8, a label count other than ``N``, labels
            that are not whole numbers in 0..9, or a file missing from
            ``checksums`` or failing its MD5; the message names the file.
        ImportError: If SciPy is not installed (raised on loading).
    """

    METAINFO = {'classes': MNIST_CATEGORITES}

    def __init__(self,
                 data_root: str,
                 mat_files: Union[str, Sequence[str]] = 'test.mat',
                 checksums: Optional[Dict[str, str]] = None,
                 test_mode: bool = True,
                 **kwargs) -> None:
        if isinstance(mat_files, str):
            # A lone name from a config would otherwise split into letters.
            mat_files = (mat_files, )
        self.mat_files = tuple(mat_files)
        if not self.mat_files:
            raise ValueError('AffNIST: mat_files must name at least one file')
        self.checksums = None if checksums is None else dict(checksums)
        super().__init__(
            ann_file='',
            data_root=osp.expanduser(data_root),
            test_mode=test_mode,
            **kwargs)

    def _paths(self) -> List[str]:
        paths = []
        for name in self.mat_files:
            path = osp.join(self.data_root, name)
            if glob.has_magic(name):
                matches = sorted(glob.glob(path), key=_natural_key)
                if not matches:
                    raise FileNotFoundError(
                        f'AffNIST: no file matches {path}. Download the '
                        f'affNIST test files from {_URL} and unzip them '
                        'into data_root.')
                paths += matches
            elif osp.isfile(path):
                paths.append(path)
            else:
                raise FileNotFoundError(
                    f'AffNIST file not found: {path}. Download it from '
                    f'{_URL} (32x/transformed/test.mat.zip, or '
                    'test_batches.zip for 1.mat .. 32.mat), unzip it into '
                    'data_root, or point data_root at a folder holding it.')
        return paths

    def load_data_list(self) -> List[dict]:
        """Load the images and labels of every file.

        Returns:
            One ``{'img', 'gt_label'}`` dict per image.
        """
        data_list = []
        for path in self._paths():
            self._verify(path)
            mat = load_mat(path, 'AffNIST', variable_names=[_STRUCT])
            images, labels = self._unpack(mat.get(_STRUCT), path)
            data_list += [{
                'img': img,
                'gt_label': label
            } for img, label in zip(images, labels.tolist())]
        return data_list

    def _verify(self, path: str) -> None:
        if self.checksums is None:
            return
        name = osp.basename(path)
        if name not in self.checksums:
            raise ValueError(
                f'AffNIST: {path} has no entry in checksums (which lists '
                f'{sorted(self.checksums)}); add its MD5 or leave it out of '
                'mat_files.')
        check_md5(path, self.checksums[name],
                  f'Download it again from {_URL}.')

    @staticmethod
    def _unpack(struct, path: str):
        """``(N, 40, 40)`` images and ``(N,)`` labels of one file."""
        names = getattr(getattr(struct, 'dtype', None), 'names', None) or ()
        if 'image' not in names or 'label_int' not in names:
            found = (f'a struct with fields {names}' if names else
                     'no such struct' if struct is None else 'no struct')
            raise ValueError(
                f'{path}: expected a struct {_STRUCT} with fields image and '
                f'label_int, found {found}. Is it an affNIST file from '
                f'{_URL}?')
        record = struct.reshape(-1)[0]
        images = np.asarray(record['image'])
        labels = np.asarray(record['label_int']).reshape(-1)
        if (images.ndim != 2 or images.shape[0] != _SIDE * _SIDE
                or images.dtype != np.uint8):
            raise ValueError(
                f'{path}: expected {_STRUCT}.image of shape (1600, N) uint8, '
                f'got {images.shape} {images.dtype}')
        if len(labels) != images.shape[1]:
            raise ValueError(
                f'{path}: {images.shape[1]} images but {len(labels)} labels')
        labels = check_labels(labels, path, 0, len(MNIST_CATEGORITES) - 1)
        # Each column is one image, row by row.
        images = np.ascontiguousarray(images.T).reshape(-1, _SIDE, _SIDE)
        return images, labels

    def extra_repr(self) -> List[str]:
        """Extra lines for ``repr``."""
        return [
            f'Data root: \t{self.data_root}', f'Files: \t{self.mat_files}'
        ]
