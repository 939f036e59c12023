"""Image conversions: float tensors in ``[0, 1]`` to RGB ``uint8`` tiles.

All drawing in :mod:`mmcaps.visualization` works on ``(H, W, 3)`` RGB
``uint8`` numpy arrays (the format of mmengine's ``Visualizer.add_image``)
and uses only numpy and OpenCV (a dependency of mmengine).
"""
import os
import os.path as osp
from typing import Sequence, Tuple, Union

import cv2
import numpy as np
import torch

__all__ = [
    'OVERLAY_COLOURS', 'colour_overlay', 'to_numpy', 'to_rgb', 'upscale',
    'write_png'
]

Colour = Tuple[int, int, int]
ArrayLike = Union[np.ndarray, torch.Tensor]

# Red, green, blue: two reconstructions overlap in yellow.
OVERLAY_COLOURS: Tuple[Colour, ...] = ((255, 0, 0), (0, 255, 0),
                                       (0, 0, 255))


def to_numpy(image: ArrayLike) -> np.ndarray:
    """A tensor (any device, with or without grad) or array as numpy."""
    if isinstance(image, torch.Tensor):
        return image.detach().cpu().float().numpy()
    return np.asarray(image)


def _to_uint8(values: np.ndarray) -> np.ndarray:
    if values.dtype == np.uint8:
        return values
    return (np.clip(values, 0., 1.) * 255).round().astype(np.uint8)


def to_rgb(image: ArrayLike) -> np.ndarray:
    """An image as an RGB ``uint8`` array.

    ``(H, W)``, ``(1, H, W)`` or ``(3, H, W)`` (channels first, as the
    network sees it) -> ``(H, W, 3)``. Floats are read as ``[0, 1]`` and
    clipped to it; ``uint8`` values are kept.
    """
    image = to_numpy(image)
    if image.ndim == 3 and image.shape[0] in (1, 3):
        image = image.transpose(1, 2, 0)
    elif image.ndim == 2:
        image = image[..., None]
    else:
        raise ValueError('to_rgb: expected an image (H, W), (1, H, W) or '
                         f'(3, H, W), got shape {image.shape}')
    image = _to_uint8(image)
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    return np.ascontiguousarray(image)


def colour_overlay(
        channels: ArrayLike,
        colours: Sequence[Colour] = OVERLAY_COLOURS) -> np.ndarray:
    """Grey images drawn in one colour each and added (clipped at 255).

    ``(P, H, W)`` in ``[0, 1]`` -> ``(H, W, 3)`` ``uint8``: pixel value
    ``min(255, round(sum_p channels[p] * colours[p]))``. With the default
    colours, the first image is red, the second green, where both are
    bright the pixel is yellow.
    """
    channels = to_numpy(channels).astype(np.float64)
    if channels.ndim != 3:
        raise ValueError('colour_overlay: expected grey images (P, H, W), '
                         f'got shape {channels.shape}')
    if channels.shape[0] > len(colours):
        raise ValueError(f'colour_overlay: {channels.shape[0]} images but '
                         f'only {len(colours)} colours; pass more colours')
    weights = np.asarray(colours[:channels.shape[0]], np.float64)
    mixed = np.einsum('phw,pc->hwc', np.clip(channels, 0., 1.), weights)
    return np.clip(mixed, 0, 255).round().astype(np.uint8)


def upscale(image: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour enlargement by an integer factor: each pixel
    becomes a ``scale x scale`` block. ``(H, W, ...) -> (H * scale,
    W * scale, ...)``."""
    if not isinstance(scale, int) or scale < 1:
        raise ValueError(
            f'upscale: scale must be a positive integer, got {scale!r}')
    return np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)


def write_png(path: str, image: np.ndarray) -> None:
    """Write an RGB ``uint8`` image ``(H, W, 3)`` as a PNG file, creating
    its folder."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError('write_png: expected an RGB uint8 image (H, W, 3), '
                         f'got {image.dtype} {image.shape}')
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    # zlib's default level: OpenCV's own default writes several times
    # larger files.
    ok, data = cv2.imencode('.png', cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                            [cv2.IMWRITE_PNG_COMPRESSION, 6])
    if not ok:
        raise OSError(f'write_png: OpenCV could not encode {path}')
    with open(path, 'wb') as f:
        f.write(data.tobytes())
