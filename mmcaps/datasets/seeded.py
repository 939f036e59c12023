"""Random augmentation that is a pure function of ``(seed, epoch, index)``.

A dataloader worker's random state depends on how the workers were started:
mmengine's ``worker_init_fn`` seeds worker ``w`` of rank ``r`` with
``seed + w + num_workers * r``, so non-persistent workers repeat the same
augmentation stream every epoch, persistent ones carry their streams over
from epoch to epoch, and which sample a worker draws for depends on how the
batches were spread over the workers. A resumed run cannot recreate any of
that. The two classes here make each sample's random draws depend on
nothing but the seed, the epoch and the sample's index:

* :class:`~mmcaps.datasets.ResumableSampler` yields ``(epoch, index)`` keys
  instead of bare indices (the epoch travels with the index to persistent
  workers too) and can start an epoch at a given sample, which a resumed
  run uses to skip the samples trained before the interruption without
  loading them;
* :class:`SeededDataset` seeds Python's ``random``, numpy's global generator
  and torch's CPU generator from ``np.random.SeedSequence`` of the key
  before running the wrapped dataset's ``__getitem__`` (its pipeline).

``mmcaps.engine.ResumableEpochBasedTrainLoop`` wraps a training dataloader
config's dataset and sampler in these two.
"""
import random
from contextlib import contextmanager
from typing import Iterator, Sequence, Tuple, Union

import numpy as np
import torch
from mmpretrain.registry import DATASETS
from torch.utils.data import Dataset, get_worker_info

__all__ = [
    'ITERATION_STREAM', 'SAMPLE_STREAM', 'SeededDataset', 'seed_everything'
]

# First entropy word after the seed, so that the streams of samples and of
# training iterations never coincide (``SeedSequence`` pads short entropy
# with zeros, so a length difference alone would not separate them).
SAMPLE_STREAM = 0
ITERATION_STREAM = 1

Key = Union[int, Tuple[int, int]]


def _check_seed(seed) -> int:
    if (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
            or seed < 0):
        raise ValueError(f'seed must be a non-negative integer, got {seed!r}'
                         "; set `randomness=dict(seed=...)` in the config")
    return int(seed)


def seed_everything(*entropy: int, cuda: bool = False) -> None:
    """Seed Python's ``random``, numpy's global generator and torch's CPU
    generator (with ``cuda=True`` also every CUDA device's) from
    ``np.random.SeedSequence(entropy)``.

    ``torch.manual_seed`` is avoided: it also visits every accelerator
    backend and took 0.5 ms here, 100x the CPU generator's own seeding,
    which adds up when done for every sample.

    Args:
        *entropy: Non-negative integers, e.g. ``(seed, SAMPLE_STREAM,
            epoch, index)``.
        cuda: Also seed the CUDA generators (when CUDA is available).
    """
    words = np.random.SeedSequence(entropy).generate_state(8)
    np.random.seed(words[:4])
    random.seed(int(words[4]) << 32 | int(words[5]))
    torch_seed = int(words[6]) << 32 | int(words[7])
    torch.default_generator.manual_seed(torch_seed)
    if cuda and torch.cuda.is_available():
        torch.cuda.manual_seed_all(torch_seed)


@contextmanager
def _global_rng_preserved() -> Iterator[None]:
    """Restore the global Python, numpy and torch CPU random states on exit.
    """
    states = random.getstate(), np.random.get_state(), torch.get_rng_state()
    try:
        yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])


@DATASETS.register_module()
class SeededDataset(Dataset):
    """A dataset whose every sample is drawn with the global random
    generators seeded from ``(seed, epoch, index)``.

    ``dataset[(epoch, index)]`` seeds Python's ``random``, numpy's global
    generator and torch's CPU generator (what mmpretrain's transforms use)
    from ``np.random.SeedSequence((seed, SAMPLE_STREAM, epoch, index))`` and
    returns the wrapped ``dataset[index]``; a bare ``index`` means epoch 0.
    A sample's augmentation thus depends on nothing but its key: not on
    the worker or rank that loads it, on whether workers persist across
    epochs, nor on a resume. Before the first sample of a new epoch, the
    wrapped dataset's ``set_epoch(epoch)`` is called if it has one (e.g.
    :class:`MultiMNIST` draws fresh pairs), in whichever process loads the
    sample. In the main process (``num_workers=0``) the global random
    states are restored afterwards, so that loading data leaves the
    training stream (dropout, batch-wise augmentation) alone. Seeding costs
    about 40 us a sample, saving and restoring the states 160 us more
    (measured on a busy 2-core CPU).

    Pair it with :class:`~mmcaps.datasets.ResumableSampler`, which yields
    the keys. A wrapped dataset with ``__getitems__`` (e.g.
    :class:`InMemoryDataset`) gets each batch in one call, seeded from
    ``(seed, SAMPLE_STREAM, epoch, *indices)``.

    Args:
        dataset: The dataset or its config.
        seed: The seed; ``ResumableEpochBasedTrainLoop`` passes the
            runner's. A resumed run needs the same seed.

    Raises:
        ValueError: A negative or non-integer ``seed``.
    """

    def __init__(self, dataset: Union[dict, Dataset], seed: int = 0) -> None:
        self.dataset = (DATASETS.build(dataset)
                        if isinstance(dataset, dict) else dataset)
        self.seed = _check_seed(seed)
        self._epoch = None

    @property
    def metainfo(self) -> dict:
        """The wrapped dataset's ``metainfo``."""
        return self.dataset.metainfo

    def full_init(self) -> None:
        """Fully initialise the wrapped dataset (if it defers it)."""
        if hasattr(self.dataset, 'full_init'):
            self.dataset.full_init()

    def get_data_info(self, idx: int) -> dict:
        """The wrapped dataset's data info ``idx`` (no pipeline, no seeding).
        """
        return self.dataset.get_data_info(idx)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: Key):
        epoch, index = key if isinstance(key, tuple) else (0, key)
        with self._seeded(epoch, index):
            return self.dataset[index]

    def __getitems__(self, keys: Sequence[Key]) -> list:
        if not hasattr(self.dataset, '__getitems__'):
            return [self[key] for key in keys]
        keys = [key if isinstance(key, tuple) else (0, key) for key in keys]
        epochs = {epoch for epoch, _ in keys}
        if len(epochs) != 1:
            raise ValueError(f'SeededDataset: a batch spans epochs {epochs}')
        indices = [index for _, index in keys]
        with self._seeded(epochs.pop(), *indices):
            return self.dataset.__getitems__(indices)

    @contextmanager
    def _seeded(self, epoch: int, *indices: int) -> Iterator[None]:
        if epoch != self._epoch and hasattr(self.dataset, 'set_epoch'):
            self.dataset.set_epoch(epoch)
        self._epoch = epoch
        if get_worker_info() is not None:
            # A worker's global state is private to data loading and is
            # reseeded before every sample: nothing to restore.
            seed_everything(self.seed, SAMPLE_STREAM, epoch, *indices)
            yield
            return
        with _global_rng_preserved():
            seed_everything(self.seed, SAMPLE_STREAM, epoch, *indices)
            yield

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(seed={self.seed}, '
                f'dataset={self.dataset!r})')
