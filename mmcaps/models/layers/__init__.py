"""Capsule layers: primary capsules, the fully connected capsule layer,
matrix capsules, the reconstruction decoder."""
from .capsule_layer import CapsuleLayer
from .decoder import CapsuleDecoder
from .matrix_capsules import ClassMatrixCaps, ConvMatrixCaps, PrimaryMatrixCaps
from .primary_caps import DepthwisePrimaryCaps, PrimaryCaps
from .squash import Squash

__all__ = [
    'CapsuleDecoder', 'CapsuleLayer', 'ClassMatrixCaps', 'ConvMatrixCaps',
    'DepthwisePrimaryCaps', 'PrimaryCaps', 'PrimaryMatrixCaps', 'Squash'
]
