"""The CapsNet trunk of Sabour et al. (2017): Conv1 + PrimaryCaps."""
from typing import Optional, Tuple

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS

from ..layers import PrimaryCaps

__all__ = ['CapsNet']


@MODELS.register_module()
class CapsNet(BaseModule):
    """Conv1 (ReLU) followed by PrimaryCaps.

    ``(B, C, H, W) -> ((B, N, D),)`` with, for the paper's 28x28 MNIST,
    ``N = 32 * 6 * 6 = 1152`` capsules of ``D = 8``.

    Parameters with the defaults: Conv1 20,992 + PrimaryCaps 5,308,672 =
    5,329,664.

    Args:
        in_channels: Image channels.
        conv1_channels: Conv1 width (the paper: 256).
        conv1_kernel: Conv1 kernel (the paper: 9, stride 1).
        primary_types: Capsule types of PrimaryCaps (the paper: 32).
        primary_dim: Capsule dimension of PrimaryCaps (the paper: 8).
        primary_kernel: PrimaryCaps kernel (the paper: 9).
        primary_stride: PrimaryCaps stride (the paper: 2).
        init_cfg: MMEngine initialisation config.
    """

    def __init__(self,
                 in_channels: int = 1,
                 conv1_channels: int = 256,
                 conv1_kernel: int = 9,
                 primary_types: int = 32,
                 primary_dim: int = 8,
                 primary_kernel: int = 9,
                 primary_stride: int = 2,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.conv1 = nn.Conv2d(in_channels, conv1_channels, conv1_kernel)
        self.relu = nn.ReLU(inplace=True)
        self.primary_caps = PrimaryCaps(conv1_channels, primary_types,
                                        primary_dim, primary_kernel,
                                        primary_stride)

    def num_capsules(self, height: int, width: int) -> int:
        """Number of primary capsules for an ``H x W`` image."""
        k = self.conv1.kernel_size[0]
        return self.primary_caps.num_capsules(height - k + 1, width - k + 1)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor]:
        if x.dim() != 4 or x.shape[1] != self.conv1.in_channels:
            raise ValueError(
                f'CapsNet expects images (B, {self.conv1.in_channels}, H, W),'
                f' got {tuple(x.shape)}')
        return (self.primary_caps(self.relu(self.conv1(x))), )
