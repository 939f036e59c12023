"""The baseline CNN that Sabour et al. (2017) compare CapsNet against."""
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS

__all__ = ['BaselineCNN']


@MODELS.register_module()
class BaselineCNN(BaseModule):
    """Plain conv + FC trunk of the paper's baseline CNNs.

    Stride-1 'same' convolutions (ReLU), each optionally followed by 2x2
    max pooling, then FC layers (ReLU) and dropout.
    ``(B, C, H, W) -> ((B, fc_channels[-1]),)``.

    - MNIST (the defaults): three 5x5 convolutions (256, 256, 128
      channels) without pooling, FC 328, FC 192. A
      ``LinearClsHead(in_channels=192)`` with cross entropy completes it:
      35,443,592 trunk + 1,930 head = 35,445,522 parameters on 28x28 grey
      images (the paper: 35.4 M).
    - MultiMNIST: ``conv_channels=(512, 256), kernel_sizes=(9, 5),
      pool=True, fc_channels=(1024, )`` on 36x36: 36 -> pool 18 -> pool 9,
      41,984 + 3,277,056 + 21,234,688 = 24,553,728 trunk parameters, plus
      10,250 for a ``MultiLabelLinearClsHead(in_channels=1024)`` (sigmoid):
      24,563,978 (the paper: 24.56 M).

    Args:
        in_channels: Image channels.
        input_size: ``(H, W)`` of the images, which fixes the FC input.
        conv_channels: Widths of the convolutions.
        kernel_sizes: Kernel size of each convolution (odd), or one for
            all.
        pool: Whether each convolution is followed by 2x2 max pooling
            (stride 2, floor), or one flag for all.
        fc_channels: Widths of the fully connected layers.
        dropout: Dropout probability after the last FC layer.
        init_cfg: MMEngine initialisation config.
    """

    def __init__(self,
                 in_channels: int = 1,
                 input_size: Sequence[int] = (28, 28),
                 conv_channels: Sequence[int] = (256, 256, 128),
                 kernel_sizes: Union[int, Sequence[int]] = 5,
                 pool: Union[bool, Sequence[bool]] = False,
                 fc_channels: Sequence[int] = (328, 192),
                 dropout: float = 0.5,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.input_size = tuple(input_size)
        num_convs = len(conv_channels)
        if isinstance(kernel_sizes, int):
            kernel_sizes = (kernel_sizes, ) * num_convs
        if isinstance(pool, bool):
            pool = (pool, ) * num_convs
        if len(kernel_sizes) != num_convs or len(pool) != num_convs:
            raise ValueError(
                f'BaselineCNN: {num_convs} convolutions but '
                f'{len(kernel_sizes)} kernel sizes and {len(pool)} pool '
                'flags')
        if any(k % 2 == 0 for k in kernel_sizes):
            raise ValueError('BaselineCNN: kernel sizes must be odd for '
                             f"'same' padding, got {tuple(kernel_sizes)}")
        layers = []
        height, width = self.input_size
        for channels, kernel, pooled in zip(conv_channels, kernel_sizes,
                                            pool):
            layers += [
                nn.Conv2d(in_channels, channels, kernel,
                          padding=kernel // 2),
                nn.ReLU(inplace=True)
            ]
            if pooled:
                layers.append(nn.MaxPool2d(2))
                height, width = height // 2, width // 2
            in_channels = channels
        self.convs = nn.Sequential(*layers)
        in_features = in_channels * height * width
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
