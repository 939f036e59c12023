"""PrimaryCaps: convolutional capsules from any feature map."""
from typing import Tuple

import torch
import torch.nn as nn
from mmpretrain.registry import MODELS

from .squash import squash

__all__ = ['PrimaryCaps', 'channels_to_capsules']


def channels_to_capsules(out: torch.Tensor, num_types: int,
                         capsule_dim: int) -> torch.Tensor:
    """Group a convolution's output channels into capsules.

    ``(B, T * D, H, W) -> (B, T * H * W, D)``: channel ``t * D + d`` is
    dimension ``d`` of type ``t``, capsules ordered type-major, then row,
    then column.
    """
    b, _, h, w = out.shape
    out = out.view(b, num_types, capsule_dim, h, w)
    return out.permute(0, 1, 3, 4, 2).reshape(b, -1, capsule_dim)


@MODELS.register_module()
class PrimaryCaps(nn.Module):
    """A convolution whose output channels are grouped into squashed capsules.

    ``(B, C, H, W) -> (B, T * H' * W', D)`` with ``T = num_types`` capsule
    types of ``D = capsule_dim`` dimensions. Output channel ``t * D + d`` is
    dimension ``d`` of type ``t``: a capsule is the ``D`` channels of one type
    at one grid position (not ``D`` spatially adjacent values of one channel,
    which a plain ``view(B, -1, D)`` of the NCHW output would give). Capsules
    are ordered type-major, then row, then column.

    Parameters: ``C * T * D * k^2 + T * D`` (the paper's: 256 * 256 * 81 +
    256 = 5,308,672).

    Args:
        in_channels: ``C``.
        num_types: ``T`` (the paper: 32).
        capsule_dim: ``D`` (the paper: 8).
        kernel_size: Convolution kernel (the paper: 9).
        stride: Convolution stride (the paper: 2).
        padding: Convolution padding.
    """

    def __init__(self,
                 in_channels: int,
                 num_types: int = 32,
                 capsule_dim: int = 8,
                 kernel_size: int = 9,
                 stride: int = 2,
                 padding: int = 0) -> None:
        super().__init__()
        self.num_types = num_types
        self.capsule_dim = capsule_dim
        self.conv = nn.Conv2d(in_channels, num_types * capsule_dim,
                              kernel_size, stride, padding)

    def output_grid(self, height: int, width: int) -> Tuple[int, int]:
        """Grid size ``(H', W')`` for an ``H x W`` input feature map."""
        k, s, p = (self.conv.kernel_size[0], self.conv.stride[0],
                   self.conv.padding[0])
        return (height + 2 * p - k) // s + 1, (width + 2 * p - k) // s + 1

    def num_capsules(self, height: int, width: int) -> int:
        """Number of capsules ``T * H' * W'`` for an ``H x W`` input."""
        h, w = self.output_grid(height, width)
        return self.num_types * h * w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.conv.in_channels:
            raise ValueError(
                f'PrimaryCaps expects a feature map (B, '
                f'{self.conv.in_channels}, H, W), got {tuple(x.shape)}')
        return squash(
            channels_to_capsules(self.conv(x), self.num_types,
                                 self.capsule_dim))
