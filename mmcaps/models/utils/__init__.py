"""Functions of capsule networks (squash, lengths, capsule grouping,
targets) and the data preprocessor."""
from .capsule_ops import channels_to_capsules, coordinate_offsets
from .data_preprocessor import (CapsDataPreprocessor,
                                RandomShiftDataPreprocessor, random_shift)
from .squash import capsule_length, squash, squash_efficient
from .targets import labels_to_targets

__all__ = [
    'CapsDataPreprocessor', 'RandomShiftDataPreprocessor',
    'capsule_length', 'channels_to_capsules',
    'coordinate_offsets', 'labels_to_targets', 'random_shift', 'squash',
    'squash_efficient'
]
