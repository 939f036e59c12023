"""Image classifier with a class-capsule head, which may reconstruct its
input."""
from typing import List, Optional, Union

import torch
import torch.nn as nn
from mmpretrain.models.classifiers import ImageClassifier
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from ..heads import BaseCapsHead
from ..utils import CapsDataPreprocessor

__all__ = ['CapsNetClassifier']


@MODELS.register_module()
class CapsNetClassifier(ImageClassifier):
    """``ImageClassifier`` with a class-capsule head (:class:`BaseCapsHead`).

    mmpretrain's ``ImageClassifier.loss`` gives the head only the features;
    a head whose ``with_reconstruction`` is set also gets the images it
    should reconstruct, the raw ones in ``[0, 1]`` rather than the
    normalised network inputs: the data preprocessor (a
    :class:`CapsDataPreprocessor` unless the config names another type)
    undoes its normalisation and the result is divided by ``pixel_max``.

    Args:
        pixel_max: Value of a white pixel before normalisation (255 for
            uint8 images).
        data_preprocessor: Its config; ``type`` defaults to
            ``CapsDataPreprocessor``.
        **kwargs: Arguments of ``ImageClassifier``.
    """

    def __init__(self,
                 *args,
                 pixel_max: float = 255.0,
                 data_preprocessor: Optional[Union[dict, nn.Module]] = None,
                 **kwargs) -> None:
        if data_preprocessor is None or isinstance(data_preprocessor, dict):
            data_preprocessor = dict(data_preprocessor or {})
            data_preprocessor.setdefault('type', 'CapsDataPreprocessor')
        super().__init__(*args, data_preprocessor=data_preprocessor,
                         **kwargs)
        if not isinstance(self.head, BaseCapsHead):
            raise TypeError(
                'CapsNetClassifier needs a class-capsule head (a '
                f'BaseCapsHead such as DigitCapsHead), got '
                f'{type(self.head).__name__}; use ImageClassifier for other '
                'heads')
        if self.head.with_reconstruction and not isinstance(
                self.data_preprocessor, CapsDataPreprocessor):
            raise TypeError(
                'CapsNetClassifier: a reconstructing head needs the raw '
                'images, which only a CapsDataPreprocessor (or a subclass) '
                'can give back; got data preprocessor '
                f'{type(self.data_preprocessor).__name__}')
        self.pixel_max = pixel_max

    def raw_images(self, inputs: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` network inputs -> images in ``[0, 1]``."""
        return self.data_preprocessor.denormalize(inputs) / self.pixel_max

    def loss(self, inputs: torch.Tensor,
             data_samples: List[DataSample]) -> dict:
        feats = self.extract_feat(inputs)
        images = (self.raw_images(inputs)
                  if self.head.with_reconstruction else None)
        return self.head.loss(feats, data_samples, images=images)
