"""Reseed the training process before every iteration."""
from typing import Optional

from mmengine.dist import get_dist_info
from mmengine.hooks import Hook
from mmengine.runner import Runner
from mmpretrain.registry import HOOKS

from mmcaps.datasets.seeded import ITERATION_STREAM, seed_everything

__all__ = ['IterationSeedHook']


@HOOKS.register_module()
class IterationSeedHook(Hook):
    """Seed Python's ``random``, numpy's global generator and torch's CPU
    and CUDA generators from ``(seed, iteration, rank)`` before each
    training iteration.

    The random draws of training iteration ``i`` in the training process
    (dropout, ``RandomShiftDataPreprocessor``'s batch-wise shifts) are then
    a function of the runner's seed, ``i`` and the rank alone, so a run
    resumed from any checkpoint draws what the uninterrupted run drew.

    Why not save the generators' states in the checkpoint and restore them
    on resume instead: the stream between two training iterations is not
    the same in the two runs. Every ``iter(dataloader)`` draws a base seed
    from the global torch generator (at each epoch's start, and in the
    resumed run once more at the resume), the validation loop draws for its
    own dataloader, and a resumed run skips the validations and epoch starts
    that came before its checkpoint; a restored state would be consumed
    differently from the first draw on. Reseeding needs no checkpoint
    entry, so checkpoints stay loadable under ``weights_only=True``.

    The rank is part of the seed so that ranks do not draw the same
    dropout masks and shifts for their different batches. The random draws
    of data loading are not covered: exact resumes also need them seeded
    per sample (:class:`mmcaps.datasets.SeededDataset`, which
    ``ResumableEpochBasedTrainLoop`` applies).
    """

    priority = 'VERY_HIGH'

    def before_train_iter(self,
                          runner: Runner,
                          batch_idx: int,
                          data_batch: Optional[dict] = None) -> None:
        rank, _ = get_dist_info()
        seed_everything(
            runner.seed, ITERATION_STREAM, runner.iter, rank, cuda=True)
