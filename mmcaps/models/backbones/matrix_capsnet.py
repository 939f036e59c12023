"""The matrix-capsule trunk of Hinton, Sabour & Frosst (2018): ReLU Conv1,
PrimaryCaps, ConvCaps1, ConvCaps2."""
from typing import Optional, Tuple

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS

from ..layers import ConvMatrixCaps, PrimaryMatrixCaps

__all__ = ['MatrixCapsNet']


@MODELS.register_module()
class MatrixCapsNet(BaseModule):
    """ReLU Conv1 -> PrimaryCaps -> ConvCaps1 -> ConvCaps2 (matrix capsules,
    EM routing).

    ``(N, C, H, W) -> ((poses (N, D, P * P, H4, W4), activations
    (N, D, H4, W4)),)``: one output, a map of ``D`` capsule types (see
    :mod:`mmcaps.models.layers.matrix_capsules`), for ``MatrixCapsHead``.
    Conv1 is a ``5x5`` convolution with stride 2 and ``A`` channels,
    PrimaryCaps a ``1x1`` convolution to ``B`` types of ``4x4`` poses and
    logistic activations, ConvCaps1 ``K = 3``, stride 2, ``C`` types,
    ConvCaps2 ``K = 3``, stride 1, ``D`` types; no padding. Grids: 32x32
    (smallNORB crops) -> 14 -> 14 -> 6 -> 4; 28x28 (MNIST) -> 12 -> 12 ->
    5 -> 3.

    Parameters: ``(25 * C_in + 1) * A + (A + 1) * 17 * B + 144 * B * C +
    2 * C + 144 * C * D + 2 * D`` for 4x4 poses: the paper's model (``A =
    B = C = D = 32``, the defaults) 313,824 on one input channel; its small
    model (``A = 64, B = 8, C = D = 16``) 65,864. The class capsules add
    ``16 * D * K + 2 * K``.

    Args:
        in_channels: Image channels.
        conv1_channels: ``A``.
        conv1_kernel: Conv1 kernel (the paper: 5).
        conv1_stride: Conv1 stride (the paper: 2).
        primary_types: ``B``.
        caps1_types: ``C``.
        caps2_types: ``D``.
        caps1_kernel: ConvCaps1 ``K`` (the paper: 3).
        caps1_stride: ConvCaps1 stride (the paper: 2).
        caps2_kernel: ConvCaps2 ``K`` (the paper: 3).
        caps2_stride: ConvCaps2 stride (the paper: 1).
        pose_size: ``P`` (the paper: 4).
        routing: :class:`MatrixEMRouting` options of both ConvCaps layers
            (each builds its own betas).
        init_cfg: MMEngine initialisation config.
    """

    def __init__(self,
                 in_channels: int = 1,
                 conv1_channels: int = 32,
                 conv1_kernel: int = 5,
                 conv1_stride: int = 2,
                 primary_types: int = 32,
                 caps1_types: int = 32,
                 caps2_types: int = 32,
                 caps1_kernel: int = 3,
                 caps1_stride: int = 2,
                 caps2_kernel: int = 3,
                 caps2_stride: int = 1,
                 pose_size: int = 4,
                 routing: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.conv1 = nn.Conv2d(in_channels, conv1_channels, conv1_kernel,
                               conv1_stride)
        self.relu = nn.ReLU(inplace=True)
        self.primary_caps = PrimaryMatrixCaps(conv1_channels, primary_types,
                                              pose_size)
        self.conv_caps1 = ConvMatrixCaps(primary_types, caps1_types,
                                         caps1_kernel, caps1_stride,
                                         pose_size, routing)
        self.conv_caps2 = ConvMatrixCaps(caps1_types, caps2_types,
                                         caps2_kernel, caps2_stride,
                                         pose_size, routing)

    def forward(self,
                x: torch.Tensor) -> Tuple[Tuple[torch.Tensor, torch.Tensor]]:
        if x.dim() != 4 or x.shape[1] != self.conv1.in_channels:
            raise ValueError(
                f'MatrixCapsNet expects images (N, {self.conv1.in_channels},'
                f' H, W), got {tuple(x.shape)}')
        caps = self.primary_caps(self.relu(self.conv1(x)))
        return (self.conv_caps2(self.conv_caps1(caps)), )
