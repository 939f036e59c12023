"""A sampler that resumes mid-epoch and tells the dataset each sample's
epoch (see :mod:`mmcaps.datasets.seeded`)."""
import itertools
from typing import Iterator, Optional, Sized, Tuple, Union

from mmpretrain.registry import DATA_SAMPLERS
from torch.utils.data import Sampler

__all__ = ['ResumableSampler']


@DATA_SAMPLERS.register_module()
class ResumableSampler(Sampler):
    """Yield ``(epoch, index)`` keys from a wrapped sampler, optionally from
    a given position of the epoch on.

    The keys are what :class:`~mmcaps.datasets.SeededDataset` seeds each
    sample from; the epoch goes along with every index because dataloader
    workers, persistent ones in particular, never see the main process's
    ``set_epoch``.
    ``start`` is the position in the epoch's order of the first index to
    yield: a run resumed ``k`` batches into an epoch sets it to
    ``k * batch_size`` so that the batches already trained are skipped
    without loading them (the wrapped sampler only generates indices).
    ``ResumableEpochBasedTrainLoop`` sets it and resets it to 0 after that
    epoch.

    Args:
        sampler: The sampler or its config (e.g. ``dict(type=
            'DefaultSampler', shuffle=True)``), built with ``dataset`` and
            ``seed``.
        dataset: The dataset, passed on to the wrapped sampler's config
            (the runner passes it).
        seed: The seed, passed on to the wrapped sampler's config (the
            runner passes it).
    """

    def __init__(self,
                 sampler: Union[dict, Sampler],
                 dataset: Optional[Sized] = None,
                 seed: Optional[int] = None) -> None:
        if isinstance(sampler, dict):
            sampler = DATA_SAMPLERS.build(
                sampler, default_args=dict(dataset=dataset, seed=seed))
        self.sampler = sampler
        self.epoch = 0
        self.start = 0

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch of the keys and of the wrapped sampler (called by
        ``DistSamplerSeedHook`` before each epoch)."""
        self.epoch = int(epoch)
        if hasattr(self.sampler, 'set_epoch'):
            self.sampler.set_epoch(epoch)

    def __iter__(self) -> Iterator[Tuple[int, int]]:
        # Read now, not when the generator first runs.
        epoch = self.epoch
        indices = itertools.islice(iter(self.sampler), self.start, None)
        return ((epoch, int(index)) for index in indices)

    def __len__(self) -> int:
        """The wrapped sampler's length: a whole epoch, also when
        ``start > 0``, so that the dataloader's length stays that of an
        epoch."""
        return len(self.sampler)

    def __repr__(self) -> str:
        return f'{type(self).__name__}({self.sampler!r})'
