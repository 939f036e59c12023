"""Training-loop parts: hooks, optimiser wrappers and loops, registered in
mmpretrain's registries."""
from .hooks import (AtomicCheckpointHook, FiniteLossHook, IterationSeedHook,
                    NumClassesCheckHook, PlainCheckpointHook, atomic_path)
from .optim_wrappers import AutocastOptimWrapper
from .runner import ResumableEpochBasedTrainLoop

__all__ = [
    'AtomicCheckpointHook', 'FiniteLossHook', 'NumClassesCheckHook',
    'PlainCheckpointHook',
    'atomic_path', 'AutocastOptimWrapper', 'IterationSeedHook',
    'ResumableEpochBasedTrainLoop'
]
