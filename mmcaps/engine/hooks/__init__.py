from .atomic_checkpoint_hook import AtomicCheckpointHook, atomic_path
from .finite_loss_hook import FiniteLossHook
from .iteration_seed_hook import IterationSeedHook
from .num_classes_check_hook import NumClassesCheckHook
from .plain_checkpoint_hook import PlainCheckpointHook
from .reconstruction_visualization_hook import ReconstructionVisualizationHook

__all__ = [
    'AtomicCheckpointHook', 'atomic_path', 'FiniteLossHook',
    'NumClassesCheckHook', 'PlainCheckpointHook',
    'ReconstructionVisualizationHook', 'IterationSeedHook'
]
