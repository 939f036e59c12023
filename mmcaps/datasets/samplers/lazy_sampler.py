"""A sampler for datasets too large for an index list."""
import math
from typing import Iterator, Optional, Sized

import numpy as np
from mmengine.dist import get_dist_info, sync_random_seed
from mmpretrain.registry import DATA_SAMPLERS
from torch.utils.data import Sampler

__all__ = ['LazySampler']


@DATA_SAMPLERS.register_module()
class LazySampler(Sampler):
    """``DefaultSampler`` without the index list: O(1) memory.

    mmengine's ``DefaultSampler`` builds a list of ``len(dataset)`` Python
    integers each epoch (gigabytes for MultiMNIST's 60 M pairs). This one
    yields the indices one by one. With ``shuffle`` the order is the
    affine permutation ``j -> (a * j + b) mod N`` with ``a`` coprime to
    ``N``, ``a`` and ``b`` drawn from ``(seed, epoch)``: a different order
    every epoch, though far from a uniform random permutation, which
    MultiMNIST does not need (its pairs are random already). Ranks take
    interleaved slices of one order, padded like ``DefaultSampler``'s
    ``round_up=True`` so that every rank gets the same number.

    Args:
        dataset: The dataset (only its length is used).
        shuffle: Permute the indices each epoch.
        seed: Seed of the permutation; synchronised across ranks when
            ``None``.
    """

    def __init__(self,
                 dataset: Sized,
                 shuffle: bool = True,
                 seed: Optional[int] = None) -> None:
        self.rank, self.world_size = get_dist_info()
        self.dataset = dataset
        self.shuffle = shuffle
        self.seed = sync_random_seed() if seed is None else seed
        self.epoch = 0
        self.num_samples = math.ceil(len(dataset) / self.world_size)
        self.total_size = self.num_samples * self.world_size

    def __iter__(self) -> Iterator[int]:
        size = len(self.dataset)
        a, b = 1, 0
        if self.shuffle:
            rng = np.random.default_rng((self.seed, self.epoch))
            b = int(rng.integers(size))
            a = int(rng.integers(1, max(size, 2)))
            while math.gcd(a, size) != 1:
                a += 1
        for j in range(self.rank, self.total_size, self.world_size):
            yield (a * (j % size) + b) % size

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Called by ``DistSamplerSeedHook`` before each epoch; passed on to
        the dataset (e.g. :class:`~mmcaps.datasets.MultiMNIST`, whose
        training pairs change with the epoch) if it has a ``set_epoch``."""
        self.epoch = epoch
        if hasattr(self.dataset, 'set_epoch'):
            self.dataset.set_epoch(epoch)
