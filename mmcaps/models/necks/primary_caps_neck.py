"""PrimaryCaps as a neck, for capsule heads on any backbone."""
from typing import Optional, Tuple

import torch
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS

from ..utils import PrimaryCaps

__all__ = ['PrimaryCapsNeck']


@MODELS.register_module()
class PrimaryCapsNeck(BaseModule):
    """Turn a backbone's last feature map into primary capsules.

    ``(..., (B, C, H, W)) -> ((B, T * H' * W', D),)``; see
    :class:`PrimaryCaps` for the grouping and parameter count.

    Args:
        in_channels: ``C`` of the backbone's last output.
        num_types: Capsule types ``T``.
        capsule_dim: Capsule dimension ``D``.
        kernel_size: Convolution kernel.
        stride: Convolution stride.
        padding: Convolution padding.
        init_cfg: MMEngine initialisation config.
    """

    def __init__(self,
                 in_channels: int,
                 num_types: int = 32,
                 capsule_dim: int = 8,
                 kernel_size: int = 1,
                 stride: int = 1,
                 padding: int = 0,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.primary_caps = PrimaryCaps(in_channels, num_types, capsule_dim,
                                        kernel_size, stride, padding)

    def forward(self, feats: Tuple[torch.Tensor]) -> Tuple[torch.Tensor]:
        return (self.primary_caps(feats[-1]), )
