from .atomic_checkpoint_hook import AtomicCheckpointHook, atomic_path
from .finite_loss_hook import FiniteLossHook
from .num_classes_check_hook import NumClassesCheckHook

__all__ = [
    'AtomicCheckpointHook', 'atomic_path', 'FiniteLossHook',
    'NumClassesCheckHook'
]
