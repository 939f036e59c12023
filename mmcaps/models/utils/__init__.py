from .capsule_layer import CapsuleLayer
from .decoder import CapsuleDecoder
from .primary_caps import PrimaryCaps
from .routing import BaseRouting, DynamicRouting, build_routing
from .squash import Squash, capsule_length, squash

__all__ = [
    'BaseRouting', 'CapsuleDecoder', 'CapsuleLayer', 'DynamicRouting',
    'PrimaryCaps', 'Squash', 'build_routing', 'capsule_length', 'squash'
]
