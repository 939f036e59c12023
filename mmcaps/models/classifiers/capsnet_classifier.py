"""Image classifier that hands the raw images to a reconstructing head."""
from typing import List

import torch
from mmpretrain.models.classifiers import ImageClassifier
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

__all__ = ['CapsNetClassifier']


@MODELS.register_module()
class CapsNetClassifier(ImageClassifier):
    """``ImageClassifier`` whose head may reconstruct its input.

    mmpretrain's ``ImageClassifier.loss`` gives the head only the features;
    a head with ``with_reconstruction`` also needs the image it should
    reconstruct, and the raw one in ``[0, 1]``, not the normalised network
    input. The normalisation of the data preprocessor is undone here.

    Args:
        pixel_max: Value of a white pixel before normalisation (255 for
            uint8 images).
        **kwargs: Arguments of ``ImageClassifier``.
    """

    def __init__(self, *args, pixel_max: float = 255.0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.pixel_max = pixel_max

    def raw_images(self, inputs: torch.Tensor) -> torch.Tensor:
        """Undo the data preprocessor's normalisation: ``(B, C, H, W)``
        network inputs -> images in ``[0, 1]``."""
        preprocessor = self.data_preprocessor
        if getattr(preprocessor, '_enable_normalize', False):
            inputs = inputs * preprocessor.std + preprocessor.mean
        return inputs / self.pixel_max

    def loss(self, inputs: torch.Tensor,
             data_samples: List[DataSample]) -> dict:
        feats = self.extract_feat(inputs)
        if getattr(self.head, 'with_reconstruction', False):
            return self.head.loss(
                feats, data_samples, images=self.raw_images(inputs))
        return self.head.loss(feats, data_samples)
