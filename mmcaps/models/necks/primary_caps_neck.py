"""PrimaryCaps as a neck, for capsule heads on any backbone."""
from typing import Optional, Sequence, Tuple, Union

import torch
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS

from ..layers import PrimaryCaps

__all__ = ['PrimaryCapsNeck']


@MODELS.register_module()
class PrimaryCapsNeck(BaseModule):
    """Turn one of a backbone's feature maps into primary capsules.

    ``(..., (B, C, H, W), ...) -> ((B, T * H' * W', D),)`` where ``H' x W'``
    is the grid of the capsule convolution (``H x W`` with the default 1x1
    kernel); see :class:`PrimaryCaps` for the grouping. Takes the unpooled
    maps of mmpretrain's CNN backbones (``ResNet``, ``ResNet_CIFAR``,
    ``ConvNeXt(gap_before_final_norm=False)``, ...), of ``TIMMBackbone``
    (``features_only=True``: one map per ``out_indices``;
    ``features_only=False``: the last map) and of
    ``VisionTransformer(out_type='featmap')`` (the patch-token grid).

    The capsule count grows with the map: ``T * H' * W'``, and the head's
    prediction tensor with it (``B * K * T * H' * W' * D_out`` floats for
    ``K`` classes), so pick the stage (or a stride) that leaves a small grid.
    With ``in_size`` the neck checks every map against the grid the head was
    configured for and says what to set when they differ.

    Parameters: ``C * T * D * k^2 + T * D`` (2048 * 256 + 256 = 524,544 for
    32 types of 8-D capsules with a 1x1 kernel on a ResNet-50's last stage).

    Args:
        in_channels: ``C`` of the feature map used.
        num_types: Capsule types ``T``.
        capsule_dim: Capsule dimension ``D``.
        kernel_size: Convolution kernel.
        stride: Convolution stride.
        padding: Convolution padding.
        in_index: Which of the backbone's outputs to use (default: the last).
        in_size: Expected ``(H, W)`` of that map, or ``None`` not to check
            it; with it, :attr:`out_capsules` is the head's ``in_capsules``.
        init_cfg: MMEngine initialisation config.
    """

    def __init__(self,
                 in_channels: int,
                 num_types: int = 32,
                 capsule_dim: int = 8,
                 kernel_size: int = 1,
                 stride: int = 1,
                 padding: int = 0,
                 in_index: int = -1,
                 in_size: Optional[Sequence[int]] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.primary_caps = PrimaryCaps(in_channels, num_types, capsule_dim,
                                        kernel_size, stride, padding)
        self.in_channels = in_channels
        self.in_index = in_index
        self.in_size = None
        if in_size is not None:
            self.in_size = tuple(in_size)
            if len(self.in_size) != 2 or min(self.in_size) < 1:
                raise ValueError('PrimaryCapsNeck: in_size must be (H, W) of '
                                 f'positive ints, got {in_size!r}')
            self._check_grid(*self.in_size)

    def num_capsules(self, height: int, width: int) -> int:
        """Capsules ``T * H' * W'`` made from an ``H x W`` feature map: the
        head's ``in_capsules``."""
        return self.primary_caps.num_capsules(height, width)

    @property
    def out_capsules(self) -> Optional[int]:
        """Capsules made from an ``in_size`` map (``None`` without one)."""
        return None if self.in_size is None else self.num_capsules(
            *self.in_size)

    def _check_grid(self, height: int, width: int) -> None:
        if min(self.primary_caps.output_grid(height, width)) < 1:
            conv = self.primary_caps.conv
            raise ValueError(
                f'PrimaryCapsNeck: a {height}x{width} feature map is smaller '
                f'than the {conv.kernel_size[0]}x{conv.kernel_size[1]} kernel '
                f'(padding {conv.padding[0]}); use an earlier backbone stage '
                '(out_indices), a smaller output stride, a larger input or a '
                'smaller kernel_size')

    def _check_map(self, x: torch.Tensor) -> None:
        """Raise a ``ValueError`` that says what to configure when ``x`` is
        not the ``(B, in_channels, H, W)`` map (of ``in_size``) expected."""
        if x.dim() == 2:
            raise ValueError(
                f'PrimaryCapsNeck needs an unpooled feature map (B, C, H, W),'
                f' got pooled features {tuple(x.shape)}: configure the '
                'backbone not to pool (e.g. ConvNeXt(gap_before_final_norm='
                "False), VisionTransformer(out_type='featmap')) and put no "
                'pooling neck before this one')
        if x.dim() == 3:
            raise ValueError(
                f'PrimaryCapsNeck needs a feature map (B, C, H, W), got '
                f'{tuple(x.shape)} (a token sequence?): use '
                "VisionTransformer(out_type='featmap') for the patch grid")
        if x.dim() != 4:
            raise ValueError('PrimaryCapsNeck needs a feature map (B, C, H, '
                             f'W), got {tuple(x.shape)}')
        _, channels, height, width = x.shape
        if channels != self.in_channels:
            raise ValueError(
                f'PrimaryCapsNeck was built with in_channels='
                f'{self.in_channels}, but backbone output {self.in_index} '
                f'has {channels} channels: set the neck in_channels='
                f'{channels}')
        self._check_grid(height, width)
        if self.in_size is not None and (height, width) != self.in_size:
            raise ValueError(
                f'PrimaryCapsNeck was configured for {self.in_size[0]}x'
                f'{self.in_size[1]} feature maps ({self.out_capsules} '
                f'capsules), got {height}x{width} from backbone output '
                f'{self.in_index} (input image size or backbone stride '
                f'differ): set the neck in_size=({height}, {width}) and the '
                f'head in_capsules={self.num_capsules(height, width)}, or '
                'feed images of the configured size')

    def forward(
        self, feats: Union[torch.Tensor, Sequence[torch.Tensor]]
    ) -> Tuple[torch.Tensor]:
        """Args:
            feats: Backbone outputs, ``feats[in_index]`` being
                ``(B, C, H, W)``, or that map alone.

        Returns:
            ``((B, T * H' * W', D),)`` squashed primary capsules.
        """
        x = feats if isinstance(feats, torch.Tensor) else feats[
            self.in_index]
        self._check_map(x)
        return (self.primary_caps(x), )
