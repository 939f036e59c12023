"""An epoch-based training loop that resumes in the middle of an epoch
exactly."""
from typing import Dict, List, Optional, Tuple, Union

from mmengine.registry import Registry
from mmengine.runner import EpochBasedTrainLoop, Runner
from mmpretrain.registry import DATA_SAMPLERS, DATASETS, LOOPS
from torch.utils.data import DataLoader

from mmcaps.datasets import ResumableSampler, SeededDataset

__all__ = ['ResumableEpochBasedTrainLoop']


def _builds(cfg_or_obj, cls: type, registry: Registry) -> bool:
    """Whether ``cfg_or_obj`` is a ``cls`` or the config of one."""
    if isinstance(cfg_or_obj, cls):
        return True
    if not isinstance(cfg_or_obj, dict):
        return False
    built = cfg_or_obj.get('type')
    if isinstance(built, str):
        built = registry.get(built)
    return isinstance(built, type) and issubclass(built, cls)


def _resumable_dataloader_cfg(dataloader: dict, seed: int) -> dict:
    """``dataloader`` (a dataloader config) with its dataset wrapped in a
    :class:`SeededDataset` of ``seed`` and its sampler in a
    :class:`ResumableSampler`, unless they are already. The config is not
    modified."""
    dataset, sampler = dataloader['dataset'], dataloader['sampler']
    if not _builds(dataset, SeededDataset, DATASETS):
        dataset = dict(type=SeededDataset, dataset=dataset, seed=seed)
    if not _builds(sampler, ResumableSampler, DATA_SAMPLERS):
        sampler = dict(type=ResumableSampler, sampler=sampler)
    return dict(dataloader, dataset=dataset, sampler=sampler)


@LOOPS.register_module()
class ResumableEpochBasedTrainLoop(EpochBasedTrainLoop):
    """``EpochBasedTrainLoop`` whose resumed runs equal uninterrupted ones,
    also from a checkpoint saved in the middle of an epoch and with random
    data augmentation.

    mmengine 0.10.7's ``EpochBasedTrainLoop`` restarts the epoch of an
    iteration checkpoint (``CheckpointHook(by_epoch=False)``) from its
    first batch, training the batches before the checkpoint twice, and the
    augmentation drawn in dataloader workers depends on how the workers
    were started, which a resumed run cannot recreate. This loop:

    * wraps the dataloader config's dataset in a
      :class:`mmcaps.datasets.SeededDataset` seeded with the runner's seed
      and its sampler in a :class:`mmcaps.datasets.ResumableSampler`, so
      that every sample's random augmentation is a function of
      ``(seed, epoch, index)`` alone (a dataloader passed already built
      must come with those two itself);
    * sets the sampler's epoch before each epoch (also without
      ``DistSamplerSeedHook``);
    * resumed ``k`` batches into an epoch, starts the sampler ``k *
      batch_size`` samples into the epoch's order, so the batches already
      trained are skipped without being loaded, and numbers the remaining
      ones from ``k`` for the hooks. A checkpoint taken after an epoch's
      last batch but before its end (``k`` = the epoch's length) runs only
      that epoch's end: ``after_train_epoch`` hooks and validation.

    Together with :class:`mmcaps.engine.IterationSeedHook` (dropout and
    batch-wise augmentation in the training process) a run resumed from any
    checkpoint ends with the uninterrupted run's weights, given a fixed
    ``randomness.seed``, the same batch size and number of processes, and
    deterministic kernels. The seed must be fixed because the dataset and
    sampler take it when built, before a resume restores the checkpoint's.
    Turn the loop on with ``train_cfg = dict(_delete_=True, type=
    'ResumableEpochBasedTrainLoop', max_epochs=..., val_interval=...)``
    (``_delete_`` drops a base's ``by_epoch=True``, which mmengine refuses
    next to ``type``).

    Args:
        runner: The runner.
        dataloader: The training dataloader or its config.
        max_epochs: Total training epochs.
        val_begin: The epoch from which to validate.
        val_interval: Validation interval in epochs.
        dynamic_intervals: ``(milestone, interval)`` pairs of validation
            intervals, as in ``EpochBasedTrainLoop``.

    Raises:
        ValueError: A built dataloader without a ``ResumableSampler``; on
            resume, a checkpoint whose iteration does not fall in its epoch
            (resumed with another batch size or number of processes), or a
            mid-epoch resume with a custom batch sampler (no batch size to
            skip by).
    """

    def __init__(
            self,
            runner: Runner,
            dataloader: Union[DataLoader, Dict],
            max_epochs: int,
            val_begin: int = 1,
            val_interval: int = 1,
            dynamic_intervals: Optional[List[Tuple[int, int]]] = None) -> None:
        if isinstance(dataloader, dict):
            dataloader = _resumable_dataloader_cfg(dataloader, runner.seed)
        super().__init__(runner, dataloader, max_epochs, val_begin,
                         val_interval, dynamic_intervals)
        self.sampler = self._resumable_sampler()

    def _resumable_sampler(self) -> ResumableSampler:
        loader = self.dataloader
        for sampler in (loader.sampler,
                        getattr(loader.batch_sampler, 'sampler', None)):
            if isinstance(sampler, ResumableSampler):
                return sampler
        raise ValueError(
            f'{type(self).__name__} needs a ResumableSampler in its '
            f'dataloader, got {type(loader.sampler).__name__}: pass the '
            'dataloader as a config, or build it with sampler='
            'ResumableSampler(...) and dataset=SeededDataset(...)')

    def _batches_done(self) -> int:
        """The number of batches of the current epoch trained before a
        resume (0 when not resumed mid-epoch)."""
        per_epoch = len(self.dataloader)
        done = self._iter - self._epoch * per_epoch
        if not 0 <= done <= per_epoch:
            raise ValueError(
                f'Resumed at iteration {self._iter} in epoch '
                f'{self._epoch + 1}, which has {per_epoch} batches of '
                f'{self.dataloader.batch_size}: the checkpoint was saved '
                'with another batch size or number of processes; resume '
                'with the same ones')
        if done and self.dataloader.batch_size is None:
            raise ValueError(
                f'Resumed {done} batches into epoch {self._epoch + 1}, but '
                'the dataloader has a custom batch_sampler, so the samples '
                'to skip are unknown; resume from an epoch checkpoint')
        if done:
            self.runner.logger.info(
                f'Resumed {done} batches into epoch {self._epoch + 1}: '
                f'skipping their {done * self.dataloader.batch_size} '
                'samples (per process) without loading them')
        return done

    def run_epoch(self) -> None:
        """Iterate one epoch, or what remains of it after a resume."""
        self.runner.call_hook('before_train_epoch')
        self.runner.model.train()
        done = self._batches_done()
        self.sampler.set_epoch(self._epoch)
        self.sampler.start = done * (self.dataloader.batch_size or 0)
        try:
            for idx, data_batch in enumerate(self.dataloader, start=done):
                self.run_iter(idx, data_batch)
        finally:
            self.sampler.start = 0
        self.runner.call_hook('after_train_epoch')
        self._epoch += 1
