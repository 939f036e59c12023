"""Routing algorithms between capsule layers: one contract
(:class:`BaseRouting`), one file per algorithm."""
from .base_routing import BaseRouting, build_routing
from .dynamic_routing import DynamicRouting, dynamic_routing_flop_jit
from .em_routing import EMRouting, MatrixEMRouting, em_routing
from .lean_dynamic_routing import (lean_dynamic_routing,
                                   lean_dynamic_routing_flop_jit)
from .self_attention_routing import SelfAttentionRouting

# Handles of mmengine's jit FLOP counter for the routings that it cannot
# see inside (custom autograd functions).
FLOP_HANDLES = {
    'prim::PythonOp._DynamicRoutingFunction': dynamic_routing_flop_jit,
    'prim::PythonOp._LeanDynamicRoutingFunction':
    lean_dynamic_routing_flop_jit,
}

__all__ = [
    'BaseRouting', 'DynamicRouting', 'EMRouting', 'FLOP_HANDLES',
    'MatrixEMRouting', 'SelfAttentionRouting', 'build_routing',
    'dynamic_routing_flop_jit', 'em_routing', 'lean_dynamic_routing',
    'lean_dynamic_routing_flop_jit'
]
