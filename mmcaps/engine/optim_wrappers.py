"""Mixed precision training without loss scaling (bfloat16, e.g. on CPUs)."""
from contextlib import contextmanager
from typing import Iterator, Union

import torch
import torch.nn as nn
from mmengine.optim import OptimWrapper
from mmengine.runner.amp import autocast
from mmpretrain.registry import OPTIM_WRAPPERS

__all__ = ['AutocastOptimWrapper']


@OPTIM_WRAPPERS.register_module()
class AutocastOptimWrapper(OptimWrapper):
    """``OptimWrapper`` that runs the forward pass and the loss under
    ``torch.autocast`` on the current device, without a gradient scaler.

    mmengine's ``AmpOptimWrapper`` refuses to start without a GPU (it is
    built around CUDA's float16 ``GradScaler``). bfloat16 has float32's
    exponent range, so its gradients do not underflow and need no loss
    scaling: autocast alone is the whole of bfloat16 mixed precision, and
    CPUs support it. ``tools/train.py --amp`` uses this wrapper when no GPU
    is available.

    Args:
        dtype: The autocast type, ``'bfloat16'`` (the only one CPU autocast
            supports in mmengine) or a ``torch.dtype``.
        **kwargs: ``OptimWrapper``'s arguments (``optimizer``,
            ``clip_grad``, ``accumulative_counts``).
    """

    def __init__(self,
                 dtype: Union[str, torch.dtype] = 'bfloat16',
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.cast_dtype = (getattr(torch, dtype, None)
                           if isinstance(dtype, str) else dtype)
        if not isinstance(self.cast_dtype, torch.dtype):
            raise TypeError(f'dtype must name a torch dtype, got {dtype!r}')

    @contextmanager
    def optim_context(self, model: nn.Module) -> Iterator[None]:
        with super().optim_context(model), autocast(dtype=self.cast_dtype):
            yield
