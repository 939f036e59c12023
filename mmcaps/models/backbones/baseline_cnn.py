"""The baseline CNN that Sabour et al. (2017) compare CapsNet against."""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS

__all__ = ['BaselineCNN']


@MODELS.register_module()
class BaselineCNN(BaseModule):
    """Plain conv + FC trunk of the paper's MNIST baseline.

    Three 5x5, stride 1, 'same' convolutions (256, 256, 128 channels, ReLU)
    without pooling, then FC 328 and FC 192 (ReLU) and dropout. A
    ``LinearClsHead(in_channels=192)`` with cross entropy completes the
    paper's baseline: 35,443,592 trunk + 1,930 head = 35,445,522 parameters
    on 28x28 grey images (the paper: 35.4 M).
    ``(B, C, H, W) -> ((B, fc_channels[-1]),)``.

    Args:
        in_channels: Image channels.
        input_size: ``(H, W)`` of the images, which fixes the FC input.
        conv_channels: Widths of the convolutions.
        fc_channels: Widths of the fully connected layers.
        dropout: Dropout probability after the last FC layer.
        init_cfg: MMEngine initialisation config.
    """

    def __init__(self,
                 in_channels: int = 1,
                 input_size: Sequence[int] = (28, 28),
                 conv_channels: Sequence[int] = (256, 256, 128),
                 fc_channels: Sequence[int] = (328, 192),
                 dropout: float = 0.5,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.input_size = tuple(input_size)
        layers = []
        for width in conv_channels:
            layers += [
                nn.Conv2d(in_channels, width, 5, padding=2),
                nn.ReLU(inplace=True)
            ]
            in_channels = width
        self.convs = nn.Sequential(*layers)
        in_features = in_channels * self.input_size[0] * self.input_size[1]
        layers = []
        for width in fc_channels:
            layers += [nn.Linear(in_features, width), nn.ReLU(inplace=True)]
            in_features = width
        layers.append(nn.Dropout(dropout))
        self.fcs = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor]:
        if x.dim() != 4 or tuple(x.shape[2:]) != self.input_size:
            raise ValueError(f'BaselineCNN was built for {self.input_size} '
                             f'images, got input {tuple(x.shape)}')
        return (self.fcs(self.convs(x).flatten(1)), )
