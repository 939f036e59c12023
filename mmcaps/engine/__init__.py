"""Training-loop parts: hooks and optimiser wrappers, registered in
mmpretrain's registries."""
from .hooks import (AtomicCheckpointHook, FiniteLossHook, NumClassesCheckHook,
                    atomic_path)
from .optim_wrappers import AutocastOptimWrapper

__all__ = [
    'AtomicCheckpointHook', 'FiniteLossHook', 'NumClassesCheckHook',
    'atomic_path', 'AutocastOptimWrapper'
]
