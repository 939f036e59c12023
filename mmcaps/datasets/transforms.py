"""Place an image on a larger zero canvas: at random or centred."""
import numbers
from abc import abstractmethod
from typing import Sequence, Tuple, Union

import numpy as np
from mmcv.transforms import BaseTransform
from mmpretrain.registry import TRANSFORMS

__all__ = ['RandomPlacement', 'CenterPlacement']


def _canvas_shape(canvas_size: Union[int, Sequence[int]],
                  name: str) -> Tuple[int, int]:
    if isinstance(canvas_size, (str, numbers.Number)):
        sizes = (canvas_size, canvas_size)
    else:
        sizes = tuple(canvas_size)
    if len(sizes) != 2 or any(
            isinstance(s, bool) or not isinstance(s, numbers.Integral)
            or s < 1 for s in sizes):
        raise ValueError(f'{name}: canvas_size must be a positive int or an '
                         f'(height, width) pair of them, got {canvas_size!r}')
    return int(sizes[0]), int(sizes[1])


class _Placement(BaseTransform):
    """Paste ``img`` into a zero canvas at an offset chosen by a subclass.

    Required keys: ``img`` (``(h, w)`` or ``(h, w, C)``). Modified keys:
    ``img`` (``(H, W)`` or ``(H, W, C)``, same dtype), ``img_shape``.
    Added key: ``placement``, the ``(top, left)`` offset of the image.

    Args:
        canvas_size: ``H = W``, or ``(H, W)``; at least the image size.
    """

    def __init__(self, canvas_size: Union[int, Sequence[int]]) -> None:
        self.canvas_size = _canvas_shape(canvas_size, type(self).__name__)

    @abstractmethod
    def offsets(self, free_h: int, free_w: int) -> Tuple[int, int]:
        """``(top, left)`` for ``free_h x free_w`` pixels of free room."""

    def transform(self, results: dict) -> dict:
        img = results['img']
        h, w = img.shape[:2]
        height, width = self.canvas_size
        if h > height or w > width:
            raise ValueError(
                f'{type(self).__name__}: a {h}x{w} image does not fit on the '
                f'{height}x{width} canvas; raise canvas_size to at least '
                f'({h}, {w})')
        top, left = self.offsets(height - h, width - w)
        canvas = np.zeros((height, width, *img.shape[2:]), dtype=img.dtype)
        canvas[top:top + h, left:left + w] = img
        results['img'] = canvas
        results['img_shape'] = canvas.shape[:2]
        results['placement'] = (top, left)
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(canvas_size={self.canvas_size})'


@TRANSFORMS.register_module()
class RandomPlacement(_Placement):
    """Put the image at a uniformly random integer position on a zero
    canvas, wholly inside it.

    Sabour et al. (2017, Sec. 5.2) train for affNIST on MNIST digits
    "placed randomly on a black background of 40x40 pixels": with
    ``canvas_size=40`` each 28x28 digit lands at one of 13 x 13 offsets,
    i.e. shifted by -6..6 px from the centre, as the official code's
    ``mnist_shift.py --shift=6 --pad=6``. The offsets are drawn from
    NumPy's global generator, like mmpretrain's ``RandomCrop``, so the
    runner's seeding (and mmengine's per-worker seeds) makes them
    reproducible.

    See :class:`_Placement` for the keys.

    Args:
        canvas_size: ``H = W``, or ``(H, W)``; at least the image size.
    """

    def offsets(self, free_h: int, free_w: int) -> Tuple[int, int]:
        """Uniform ``top`` in ``0..free_h`` and ``left`` in ``0..free_w``."""
        return (int(np.random.randint(0, free_h + 1)),
                int(np.random.randint(0, free_w + 1)))


@TRANSFORMS.register_module()
class CenterPlacement(_Placement):
    """Put the image in the middle of a zero canvas: the test-time twin of
    :class:`RandomPlacement`.

    A 28x28 digit on a 40x40 canvas gets a 6-pixel border on every side,
    as affNIST's "just centered" version and the official code's
    ``mnist_shift.py --shift=0 --pad=6``. With an odd amount of free room
    the extra row (column) goes below (right of) the image.

    See :class:`_Placement` for the keys.

    Args:
        canvas_size: ``H = W``, or ``(H, W)``; at least the image size.
    """

    def offsets(self, free_h: int, free_w: int) -> Tuple[int, int]:
        """``(free_h // 2, free_w // 2)``."""
        return free_h // 2, free_w // 2
