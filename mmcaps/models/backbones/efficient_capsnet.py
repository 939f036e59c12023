"""The Efficient-CapsNet trunk of Mazzia, Salvetti & Chiaberge (2021):
convolutions (ReLU, BN) + depthwise PrimaryCaps."""
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS

from ..layers import DepthwisePrimaryCaps

__all__ = ['EfficientCapsNet']


@MODELS.register_module()
class EfficientCapsNet(BaseModule):
    """Convolutions (each ReLU, then BN) followed by depthwise PrimaryCaps.

    ``(B, C, H, W) -> ((B, N, D),)``; the paper's MNIST model, on 28x28:
    Conv 32@5x5 (-> 24x24), 64@3x3 (-> 22), 64@3x3 (-> 20), 128@3x3 stride
    2 (-> 9x9), all unpadded, then a 9x9 depthwise PrimaryCaps (-> 1x1): 16
    capsules of 8 dimensions. As in the official code, each convolution has
    a bias and is followed by the ReLU and then batch normalisation (Keras'
    momentum 0.99 and epsilon 1e-3, here ``bn_momentum=0.01``,
    ``bn_eps=1e-3``).

    Parameters with the defaults (BN running statistics are buffers):
    convolutions 832 + 18,496 + 36,928 + 73,856, BN 2 * (32 + 64 + 64 +
    128) = 576, PrimaryCaps 10,496: 141,184. A ``DigitCapsHead`` with
    ``in_capsules=16`` and ``SelfAttentionRouting`` adds 20,480 + 160 =
    20,640, for the paper's 161,824 trainable parameters (without the
    reconstruction decoder).

    Args:
        in_channels: Image channels.
        conv_channels: Widths of the convolutions (the paper: 32, 64, 64,
            128); the last is a multiple of ``primary_dim``.
        kernel_sizes: Their kernel sizes (the paper: 5, 3, 3, 3).
        strides: Their strides (the paper: 1, 1, 1, 2).
        primary_dim: Capsule dimension of PrimaryCaps (the paper: 8).
        primary_kernel: Depthwise kernel of PrimaryCaps (the paper: 9, the
            size of its input feature map).
        bn_momentum: PyTorch momentum of the batch normalisation (1 minus
            Keras').
        bn_eps: Epsilon of the batch normalisation.
        init_cfg: MMEngine initialisation config; the default is the
            official code's He normal initialisation of the convolutions
            (zero bias). PrimaryCaps keeps its own.
    """

    def __init__(self,
                 in_channels: int = 1,
                 conv_channels: Sequence[int] = (32, 64, 64, 128),
                 kernel_sizes: Sequence[int] = (5, 3, 3, 3),
                 strides: Sequence[int] = (1, 1, 1, 2),
                 primary_dim: int = 8,
                 primary_kernel: int = 9,
                 bn_momentum: float = 0.01,
                 bn_eps: float = 1e-3,
                 init_cfg: Optional[Union[dict, list]] = dict(
                     type='Kaiming', layer='Conv2d', mode='fan_in',
                     nonlinearity='relu', distribution='normal')) -> None:
        super().__init__(init_cfg=init_cfg)
        if not len(conv_channels) == len(kernel_sizes) == len(strides) > 0:
            raise ValueError(
                f'EfficientCapsNet: {len(conv_channels)} conv_channels, '
                f'{len(kernel_sizes)} kernel_sizes and {len(strides)} '
                'strides; give one of each per convolution')
        self.in_channels = in_channels
        layers = []
        for channels, kernel, stride in zip(conv_channels, kernel_sizes,
                                            strides):
            layers += [
                nn.Conv2d(in_channels, channels, kernel, stride),
                nn.ReLU(inplace=True),
                nn.BatchNorm2d(channels, eps=bn_eps, momentum=bn_momentum)
            ]
            in_channels = channels
        self.convs = nn.Sequential(*layers)
        self.primary_caps = DepthwisePrimaryCaps(in_channels, primary_dim,
                                                 primary_kernel)

    def feature_size(self, height: int, width: int) -> Tuple[int, int]:
        """Size of the convolutions' output for an ``H x W`` image."""
        # Every third module of convs is a convolution (conv, ReLU, BN).
        for conv in self.convs[::3]:
            k, s = conv.kernel_size[0], conv.stride[0]
            height, width = (height - k) // s + 1, (width - k) // s + 1
        return height, width

    def num_capsules(self, height: int, width: int) -> int:
        """Number of primary capsules for an ``H x W`` image (16 for the
        paper's 28x28 MNIST)."""
        return self.primary_caps.num_capsules(
            *self.feature_size(height, width))

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor]:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f'EfficientCapsNet expects images (B, {self.in_channels}, '
                f'H, W), got {tuple(x.shape)}')
        height, width = x.shape[2:]
        if self.num_capsules(height, width) < 1:
            k = self.primary_caps.conv.kernel_size[0]
            raise ValueError(
                f'EfficientCapsNet: a {height}x{width} image leaves a '
                f'{"x".join(map(str, self.feature_size(height, width)))} '
                f'feature map, smaller than the {k}x{k} PrimaryCaps kernel; '
                'use larger images (28x28 for the paper model) or a smaller '
                'primary_kernel')
        return (self.primary_caps(self.convs(x)), )
