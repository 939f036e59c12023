"""Data preprocessors of capsule networks: raw images back for
reconstruction, batch-wise random shifts."""
import torch
import torch.nn.functional as F
from mmpretrain.models.utils import ClsDataPreprocessor
from mmpretrain.registry import MODELS

from mmcaps.utils.validation import check_int

__all__ = [
    'CapsDataPreprocessor', 'RandomShiftDataPreprocessor', 'random_shift'
]


def random_shift(images: torch.Tensor, max_shift: int, pad_value: torch.Tensor,
                 generator: torch.Generator = None) -> torch.Tensor:
    """Shift each image by up to ``max_shift`` px in each direction.

    The paper's augmentation, done for a whole batch with one padding and
    one gather: equivalent to ``RandomCrop(size, padding=max_shift)`` per
    image (offsets uniform in ``[-max_shift, max_shift]``, independent per
    image and axis). ``(B, C, H, W) -> (B, C, H, W)``.

    Args:
        images: The batch.
        max_shift: Largest shift in pixels.
        pad_value: ``(C, 1, 1)`` value of the uncovered pixels (black in the
            images' normalisation).
        generator: Random generator for the offsets.
    """
    b, c, h, w = images.shape
    padded = F.pad(images, (max_shift, ) * 4)
    uncovered = F.pad(torch.zeros_like(images[:1, :1]), (max_shift, ) * 4,
                      value=1.0)
    padded = padded + uncovered * pad_value.to(images.dtype)
    offsets = torch.randint(0, 2 * max_shift + 1, (2, b, 1),
                            generator=generator).to(images.device)
    rows = (offsets[0] + torch.arange(h, device=images.device))[:, :, None]
    cols = (offsets[1] + torch.arange(w, device=images.device))[:, None, :]
    batch = torch.arange(b, device=images.device)[:, None, None]
    # (B, H, W, C) from advanced indexing on the spatial dimensions.
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)


@MODELS.register_module()
class CapsDataPreprocessor(ClsDataPreprocessor):
    """``ClsDataPreprocessor`` that can undo its normalisation.

    A reconstructing head's target is the raw image, not the normalised
    network input: :meth:`denormalize` gives it back.
    ``CapsNetClassifier`` uses this preprocessor unless its config names
    another type.

    Args:
        **kwargs: Arguments of ``ClsDataPreprocessor``.
    """

    def denormalize(self, inputs: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` network inputs -> the pixel values before
        normalisation (unchanged when normalisation is off)."""
        if self._enable_normalize:
            return inputs * self.std + self.mean
        return inputs


@MODELS.register_module()
class RandomShiftDataPreprocessor(CapsDataPreprocessor):
    """``ClsDataPreprocessor`` that also shifts training batches at random.

    The shift runs on the batch after normalisation, on the model's device,
    with uncovered pixels set to the normalised value of black, so the
    result equals shifting the raw images with zero padding.

    Args:
        random_shift: Largest shift in pixels (the paper: 2); 0 disables it.
        **kwargs: Arguments of ``ClsDataPreprocessor``.
    """

    def __init__(self, random_shift: int = 2, **kwargs) -> None:
        super().__init__(**kwargs)
        self.random_shift = check_int('RandomShiftDataPreprocessor',
                                      'random_shift', random_shift, minimum=0)

    def black(self, channels: int) -> torch.Tensor:
        """The normalised value of a zero pixel, ``(C, 1, 1)``."""
        if self._enable_normalize:
            return (-self.mean / self.std).expand(channels, 1, 1)
        return torch.zeros(channels, 1, 1, device=self.device)

    def forward(self, data: dict, training: bool = False) -> dict:
        data = super().forward(data, training)
        if training and self.random_shift > 0:
            inputs = data['inputs']
            data['inputs'] = random_shift(inputs, self.random_shift,
                                          self.black(inputs.shape[1]))
        return data
