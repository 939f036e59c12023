"""Place an image on a larger zero canvas (at random or centred), and fit
any image to a model's input shape."""
import numbers
from abc import abstractmethod
from typing import Sequence, Tuple, Union

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform
from mmpretrain.registry import TRANSFORMS

__all__ = ['RandomPlacement', 'CenterPlacement', 'FitInputShape']


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


@TRANSFORMS.register_module()
class FitInputShape(BaseTransform):
    """Give an image the channels and size that the model takes, so that
    image files of any size, grey or colour, go through a test pipeline
    built for a dataset's arrays.

    mmpretrain's inferencers read every file with ``mmcv.imread``, as a
    ``(h, w, 3)`` BGR array, whatever the model takes. This transform
    converts BGR to grey (OpenCV's weights, ``0.299 R + 0.587 G + 0.114 B``)
    for 1-channel models, repeats a grey image 3 times for 3-channel ones
    and resizes to the model's ``(H, W)`` (area interpolation when it
    shrinks both sides, bilinear otherwise; the aspect ratio is not
    kept). An image that already has the model's shape, as every image of
    the configs' datasets does, is passed on untouched.

    Required keys: ``img``, ``(h, w)``, ``(h, w, 1)`` or ``(h, w, 3)``.
    Modified keys: ``img`` (``(H, W)`` for ``C = 1``, ``(H, W, 3)`` for
    ``C = 3``; same dtype), ``img_shape``.

    Args:
        shape: The model's input ``(C, H, W)``, ``C`` 1 or 3.
    """

    def __init__(self, shape: Sequence[int]) -> None:
        shape = tuple(shape)
        if (len(shape) != 3 or shape[0] not in (1, 3)
                or any(isinstance(s, bool) or not isinstance(
                    s, numbers.Integral) or s < 1 for s in shape)):
            raise ValueError('FitInputShape: shape must be the model input '
                             '(C, H, W) with C 1 or 3 and positive H, W, got '
                             f'{shape!r}')
        self.shape = tuple(int(s) for s in shape)

    def transform(self, results: dict) -> dict:
        img = results['img']
        if img.ndim == 3 and img.shape[2] == 1:
            img = img[..., 0]
        if img.ndim not in (2, 3) or img.ndim == 3 and img.shape[2] != 3:
            raise ValueError('FitInputShape: expected an (h, w), (h, w, 1) '
                             'or (h, w, 3) image, got an array of shape '
                             f'{results["img"].shape}')
        channels, height, width = self.shape
        if channels == 1 and img.ndim == 3:
            img = mmcv.bgr2gray(img)
        elif channels == 3 and img.ndim == 2:
            img = mmcv.gray2bgr(img)
        h, w = img.shape[:2]
        if (h, w) != (height, width):
            shrink = h > height and w > width
            img = mmcv.imresize(
                img, (width, height),
                interpolation='area' if shrink else 'bilinear')
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(shape={self.shape})'
