"""SVHN (Street View House Numbers), cropped digits, from its .mat files."""
import os.path as osp
from typing import List, Optional

import numpy as np
from mmpretrain.datasets import BaseDataset
from mmpretrain.registry import DATASETS

from .utils import check_labels, check_md5, load_mat

__all__ = ['SVHN']

_URL = 'http://ufldl.stanford.edu/housenumbers/'


@DATASETS.register_module()
class SVHN(BaseDataset):
    """The cropped-digit SVHN dataset (format 2), read with SciPy.

    ``data_root`` holds the official ``train_32x32.mat`` (73,257 images),
    ``test_32x32.mat`` (26,032) and/or ``extra_32x32.mat`` (531,131) from
    http://ufldl.stanford.edu/housenumbers/; only the split's file is read.
    Each file holds ``X``, ``(32, 32, 3, N)`` uint8 RGB images, and ``y``,
    ``(N, 1)`` labels 1..10 where 10 stands for the digit 0. Labels are
    mapped to the digit itself, so class ``k`` is the digit ``k``.

    Each data info is ``{'img': (32, 32, 3) uint8 RGB array, 'gt_label':
    int}``, as mmpretrain's ``CIFAR10`` gives.

    Args:
        data_root: The folder holding the ``.mat`` files.
        split: ``'train'``, ``'test'`` or ``'extra'``.
        check_md5: Check the file against the published MD5.
        test_mode: Passed to ``BaseDataset``; defaults to
            ``split == 'test'``.
        **kwargs: Other arguments of ``mmpretrain.datasets.BaseDataset``
            (``pipeline``, ``metainfo``, ``indices``, ...).

    Raises:
        ValueError: For a bad ``split``, an MD5 mismatch, a file that is not
            a readable MATLAB file or lacks ``X`` or ``y``, images not of
            shape ``(32, 32, 3, N)`` uint8, or labels that are not whole
            numbers in 1..10; the message names the file.
        FileNotFoundError: If the split's file is missing.
        ImportError: If SciPy is not installed (raised on loading).
    """

    METAINFO = {'classes': tuple(str(d) for d in range(10))}
    # Per split: file name and its published MD5.
    FILES = {
        'train': ('train_32x32.mat', 'e26dedcc434d2e4c54c9b2d4a06d8373'),
        'test': ('test_32x32.mat', 'eb5a983be6a315427106f1b164d9cef3'),
        'extra': ('extra_32x32.mat', 'a93ce644f1a588dc4d68dda5feec44a7'),
    }

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 check_md5: bool = True,
                 test_mode: Optional[bool] = None,
                 **kwargs) -> None:
        if split not in self.FILES:
            raise ValueError(f'SVHN: split must be one of '
                             f'{tuple(self.FILES)}, got {split!r}')
        self.split = split
        self.check_md5 = check_md5
        if test_mode is None:
            test_mode = split == 'test'
        super().__init__(
            ann_file='',
            data_root=osp.expanduser(data_root),
            test_mode=test_mode,
            **kwargs)

    def load_data_list(self) -> List[dict]:
        """Load the split's images and labels.

        Returns:
            One ``{'img', 'gt_label'}`` dict per image, in file order.
        """
        name, md5 = self.FILES[self.split]
        path = osp.join(self.data_root, name)
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'SVHN file not found: {path}. Download {_URL}{name} into '
                'that folder, or point data_root at a folder holding it.')
        if self.check_md5:
            check_md5(
                path, md5, f'Download it again from {_URL}{name}, or pass '
                'check_md5=False for a deliberately modified file.')
        mat = load_mat(path, 'SVHN', variable_names=['X', 'y'])
        missing = [key for key in ('X', 'y') if key not in mat]
        if missing:
            found = sorted(key for key in mat if not key.startswith('__'))
            raise ValueError(
                f'{path}: no variable {" or ".join(missing)} (found '
                f'{found}); is it an SVHN file from {_URL}?')
        images, labels = np.asarray(mat['X']), np.asarray(mat['y'])
        if images.ndim != 4 or images.shape[:3] != (32, 32, 3) or (
                images.shape[3] != labels.size):
            raise ValueError(
                f'{path}: expected X of shape (32, 32, 3, N) and y of N '
                f'labels, got X {images.shape} and y {labels.shape}')
        if images.dtype != np.uint8:
            raise ValueError(f'{path}: expected X of dtype uint8 (pixels '
                             f'0..255), got {images.dtype}')
        labels = check_labels(labels, path, 1, 10)
        # (32, 32, 3, N) -> N images in HWC order; label 10 is the digit 0.
        images = np.ascontiguousarray(images.transpose(3, 0, 1, 2))
        digits = (labels % 10).tolist()
        return [{
            'img': img,
            'gt_label': digit
        } for img, digit in zip(images, digits)]

    def extra_repr(self) -> List[str]:
        """Extra lines for ``repr``."""
        return [f'Split: \t{self.split}', f'Data root: \t{self.data_root}']
