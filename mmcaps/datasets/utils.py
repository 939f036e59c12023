"""Dataset helpers: fetching files safely from a list of mirrors (from
:mod:`mmcaps.utils.fileio`), checking files and labels, reading MATLAB
files, and reading the source digits of the datasets generated from
MNIST."""
from typing import Optional, Sequence, Tuple, Union

import numpy as np
from mmengine.dataset import BaseDataset
from mmpretrain.registry import DATASETS

from ..utils.fileio import download_file, md5sum

__all__ = [
    'md5sum', 'download_file', 'check_md5', 'check_labels', 'load_mat',
    'read_source_digits'
]


def check_md5(path: str, expected: str, hint: str) -> None:
    """Raise ``ValueError`` unless ``path``'s MD5 is ``expected``.

    Args:
        path: The file to check.
        expected: Its expected MD5 hex digest.
        hint: How to get a good copy, appended to the message.
    """
    found = md5sum(path)
    if found != expected.lower():
        raise ValueError(f'MD5 mismatch for {path}: expected '
                         f'{expected.lower()}, found {found}. {hint}')


def check_labels(labels: np.ndarray, source: str, low: int,
                 high: int) -> np.ndarray:
    """Check that ``labels`` are whole numbers in ``low..high``.

    Float labels are accepted when every value is a whole number (a label
    file written as doubles), so that nothing is silently truncated.

    Args:
        labels: The labels, any shape.
        source: Where they come from, for the messages.
        low: The smallest valid label.
        high: The largest valid label.

    Returns:
        The labels as a flat int64 array.

    Raises:
        ValueError: A label that is not a number, not a whole number
            (fractional, NaN, infinite) or outside ``low..high``; the
            message names the first one, its index and how many are bad.
    """
    labels = np.asarray(labels).reshape(-1)
    if not (np.issubdtype(labels.dtype, np.integer)
            or np.issubdtype(labels.dtype, np.floating)):
        raise ValueError(f'{source}: expected integer labels, got dtype '
                         f'{labels.dtype}')
    if np.issubdtype(labels.dtype, np.floating):
        whole = np.isfinite(labels) & (labels == np.round(labels))
        if not whole.all():
            first = int(np.flatnonzero(~whole)[0])
            raise ValueError(
                f'{source}: label {labels[first]} at index {first} is not a '
                f'whole number ({int((~whole).sum())} bad labels)')
    bad = (labels < low) | (labels > high)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        value = labels[first]
        value = int(value) if float(value).is_integer() else value
        raise ValueError(
            f'{source}: label {value} at index {first} is outside '
            f'{low}..{high} ({int(bad.sum())} bad labels)')
    return labels.astype(np.int64)


def load_mat(path: str,
             dataset_name: str,
             variable_names: Optional[Sequence[str]] = None) -> dict:
    """Read a MATLAB file with SciPy.

    Args:
        path: The file.
        dataset_name: The dataset reading it, for the messages.
        variable_names: Read only these variables.

    Returns:
        ``scipy.io.loadmat``'s dict of variables.

    Raises:
        ImportError: SciPy is not installed.
        ValueError: The file cannot be read as a MATLAB file (truncated,
            corrupt, or another format); the message names it.
    """
    try:
        from scipy.io import loadmat
    except ImportError as e:
        raise ImportError(
            f'{dataset_name} reads the official .mat files with SciPy ({e}); '
            'install it with `pip install scipy`') from None
    try:
        return loadmat(path, variable_names=variable_names)
    except (OSError, ValueError, TypeError, KeyError, IndexError,
            NotImplementedError, EOFError, MemoryError) as e:
        # scipy reports damage with whatever the parser tripped on, often
        # without the file name.
        raise ValueError(
            f'{dataset_name}: cannot read {path} as a MATLAB file '
            f'({type(e).__name__}: {e}); it is truncated, corrupt or not a '
            '.mat file: download it again.') from None


def read_source_digits(source: Union[dict, BaseDataset],
                       dataset_name: str) -> Tuple[np.ndarray, np.ndarray]:
    """Read every image and label of the dataset another one is generated
    from (MultiMNIST, AffineMNIST).

    Args:
        source: The source dataset, or its config.
        dataset_name: The generated dataset's name, for the error messages.

    Returns:
        Images ``(N, H, W)`` uint8 and labels ``(N,)`` int64.

    Raises:
        ValueError: Source images not 2-D of one size, or not uint8.
    """
    if isinstance(source, dict):
        source = DATASETS.build(source)
    infos = [source.get_data_info(i) for i in range(len(source))]
    shapes = {np.shape(info['img']) for info in infos}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise ValueError(f'{dataset_name} needs 2-D source images of one '
                         f'size, got shapes {sorted(shapes)}')
    images = np.stack([np.asarray(info['img']) for info in infos])
    if images.dtype != np.uint8:
        raise ValueError(f'{dataset_name} needs uint8 source images, got '
                         f'{images.dtype}')
    labels = np.array([int(info['gt_label']) for info in infos],
                      dtype=np.int64)
    return images, labels
