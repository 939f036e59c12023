"""Primary capsule layers: convolutions whose channels are grouped into
capsules."""
from typing import Optional, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS

from mmcaps.utils.validation import check_int

from ..utils import channels_to_capsules, squash, squash_efficient

__all__ = ['DepthwisePrimaryCaps', 'PrimaryCaps']


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
        for name, value in (('in_channels', in_channels),
                            ('num_types', num_types),
                            ('capsule_dim', capsule_dim),
                            ('kernel_size', kernel_size),
                            ('stride', stride)):
            check_int('PrimaryCaps', name, value)
        check_int('PrimaryCaps', 'padding', padding, minimum=0)
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


@MODELS.register_module()
class DepthwisePrimaryCaps(BaseModule):
    """Primary capsules from a depthwise convolution, efficient-squashed.

    ``(B, C, H, W) -> (B, (C / D) * H' * W', D)``: a ``k x k`` depthwise
    convolution (one filter per channel, bias, no activation, no padding,
    stride 1) whose ``C`` output channels are ``C / D`` capsule types of
    ``D`` dimensions; channel ``t * D + d`` is dimension ``d`` of type
    ``t``, capsules ordered type-major, then row, then column, as in
    :class:`PrimaryCaps`. With ``k`` the size of the
    feature map (the paper: 9 on 9x9) the grid is 1x1 and the capsules are
    the official code's ``Reshape((N, D))`` of the ``C`` channels.
    Squashed by :func:`~mmcaps.models.utils.squash_efficient`.

    Parameters: ``C * k^2 + C`` (the paper's MNIST model: 128 * 81 + 128 =
    10,496).

    Args:
        in_channels: ``C``, a multiple of ``capsule_dim``.
        capsule_dim: ``D`` (the paper: 8).
        kernel_size: ``k`` (the paper: 9).
        init_cfg: MMEngine initialisation config; the default is Keras'
            ``Conv2D`` default of the official code, Glorot uniform with
            zero bias.
    """

    def __init__(self,
                 in_channels: int,
                 capsule_dim: int = 8,
                 kernel_size: int = 9,
                 init_cfg: Optional[Union[dict, list]] = dict(
                     type='Xavier', layer='Conv2d',
                     distribution='uniform')) -> None:
        super().__init__(init_cfg=init_cfg)
        for name, value in (('in_channels', in_channels),
                            ('capsule_dim', capsule_dim),
                            ('kernel_size', kernel_size)):
            check_int('DepthwisePrimaryCaps', name, value)
        if in_channels % capsule_dim:
            raise ValueError(
                f'DepthwisePrimaryCaps: in_channels={in_channels} is not a '
                f'multiple of capsule_dim={capsule_dim}; the channels are '
                'grouped into capsules')
        self.capsule_dim = capsule_dim
        self.num_types = in_channels // capsule_dim
        self.conv = nn.Conv2d(in_channels, in_channels, kernel_size,
                              groups=in_channels)

    def output_grid(self, height: int, width: int) -> Tuple[int, int]:
        """Grid size ``(H', W')`` for an ``H x W`` feature map (``<= 0``
        where it is smaller than the kernel)."""
        k = self.conv.kernel_size[0]
        return height - k + 1, width - k + 1

    def num_capsules(self, height: int, width: int) -> int:
        """Number of capsules ``(C / D) * H' * W'`` for ``H x W``."""
        h, w = self.output_grid(height, width)
        return self.num_types * max(h, 0) * max(w, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.conv.in_channels:
            raise ValueError(
                f'DepthwisePrimaryCaps expects a feature map (B, '
                f'{self.conv.in_channels}, H, W), got {tuple(x.shape)}')
        if min(self.output_grid(*x.shape[2:])) < 1:
            k = self.conv.kernel_size[0]
            raise ValueError(
                f'DepthwisePrimaryCaps: a {x.shape[2]}x{x.shape[3]} feature '
                f'map is smaller than the {k}x{k} kernel')
        return squash_efficient(
            channels_to_capsules(self.conv(x), self.num_types,
                                 self.capsule_dim))
