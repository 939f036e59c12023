from .capsule_layer import CapsuleLayer
from .data_preprocessor import RandomShiftDataPreprocessor, random_shift
from .decoder import CapsuleDecoder
from .em_routing import EMRouting, em_routing
from .matrix_capsules import (ClassMatrixCaps, ConvMatrixCaps,
                              PrimaryMatrixCaps, coordinate_offsets)
from .naive_capsule_layer import NaiveCapsuleLayer
from .primary_caps import PrimaryCaps, channels_to_capsules
from .routing import BaseRouting, DynamicRouting, build_routing
from .self_attention_routing import SelfAttentionRouting
from .squash import Squash, capsule_length, squash, squash_efficient

__all__ = [
    'BaseRouting', 'CapsuleDecoder', 'CapsuleLayer', 'ClassMatrixCaps',
    'ConvMatrixCaps', 'DynamicRouting', 'EMRouting', 'NaiveCapsuleLayer',
    'PrimaryCaps', 'PrimaryMatrixCaps', 'RandomShiftDataPreprocessor',
    'SelfAttentionRouting', 'Squash', 'build_routing', 'capsule_length',
    'channels_to_capsules', 'coordinate_offsets', 'em_routing',
    'random_shift', 'squash', 'squash_efficient'
]
