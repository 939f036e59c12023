"""Loading mmengine checkpoints under ``torch.load(weights_only=True)``.

Since torch 2.6, ``torch.load`` defaults to ``weights_only=True``, which
refuses every Python object it has not been told is safe. mmengine 0.10.7
calls ``torch.load`` without that argument, and its checkpoints hold the
message hub's ``HistoryBuffer``s (numpy arrays, and references to the
buffer's statistics functions pickled through ``builtins.getattr``), so
``resume``, ``load_from`` and ``tools/test.py CONFIG CHECKPOINT`` all fail.

Rather than turn the safety check off, mmcaps (1) allow-lists the exact
numpy and mmengine types such checkpoints contain and (2) stops
``HistoryBuffer`` from pickling its statistics functions: allowing
``getattr`` would let a checkpoint call arbitrary code. The functions are
class-level and re-registered whenever the code that defines them is
imported, so nothing is lost. Checkpoints written by mmengine without mmcaps
imported still contain ``getattr`` and load only with ``weights_only=False``,
for files from a trusted source.
"""
from typing import List, Tuple, Union

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer

__all__ = [
    'checkpoint_safe_globals', 'register_checkpoint_safe_globals',
    'patch_history_buffer_pickling'
]


def checkpoint_safe_globals() -> List[Union[object, Tuple[object, str]]]:
    """The objects an mmengine/mmcaps checkpoint holds beyond tensors, with
    the numpy 1.x names of the numpy 2 functions, so that checkpoints
    pickled under either load."""
    multiarray = (np._core if hasattr(np, '_core') else np.core).multiarray
    dtype_classes = {type(np.dtype(t)) for t in np.sctypeDict.values()}
    return [
        HistoryBuffer, np.ndarray, np.dtype,
        multiarray._reconstruct, multiarray.scalar,
        (multiarray._reconstruct, 'numpy.core.multiarray._reconstruct'),
        (multiarray.scalar, 'numpy.core.multiarray.scalar'),
        *sorted(dtype_classes, key=lambda c: c.__name__)
    ]


def _history_buffer_getstate(self: HistoryBuffer) -> dict:
    state = self.__dict__.copy()
    state.pop('statistics_methods', None)
    return state


def patch_history_buffer_pickling() -> None:
    """Pickle ``HistoryBuffer`` without its class-level statistics
    functions (see the module docstring)."""
    HistoryBuffer.__getstate__ = _history_buffer_getstate


def register_checkpoint_safe_globals() -> None:
    """Make mmengine checkpoints loadable with ``weights_only=True``."""
    patch_history_buffer_pickling()
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is not None:
        add_safe_globals(checkpoint_safe_globals())
