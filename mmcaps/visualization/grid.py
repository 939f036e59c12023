"""Layout: tiles on a grid with captions, text strips, stacked parts."""
import math
from typing import Optional, Sequence

import cv2
import numpy as np

from .image import Colour

__all__ = [
    'TEXT_HEIGHT', 'WHITE', 'WRONG', 'concat_images', 'image_grid',
    'text_image'
]

# Room for one line of the 0.4-scale Hershey font (11 px + descenders).
TEXT_HEIGHT = 14
WHITE: Colour = (255, 255, 255)
# Captions of wrong predictions.
WRONG: Colour = (255, 64, 64)
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_FONT_SCALE = 0.4


def text_image(text: str,
               width: int,
               height: int = TEXT_HEIGHT,
               colour: Colour = WHITE,
               background: int = 0) -> np.ndarray:
    """One line of text on a ``(height, width, 3)`` RGB strip, from its left
    edge (what does not fit is cut off)."""
    strip = np.full((height, width, 3), background, np.uint8)
    if text:
        (_, text_h), _ = cv2.getTextSize(text, _FONT, _FONT_SCALE, 1)
        baseline_y = (height + text_h) // 2
        cv2.putText(strip, text, (2, baseline_y), _FONT, _FONT_SCALE,
                    tuple(int(c) for c in colour), 1, cv2.LINE_AA)
    return strip


def image_grid(tiles: Sequence[np.ndarray],
               cols: int,
               labels: Optional[Sequence[str]] = None,
               label_colours: Optional[Sequence[Colour]] = None,
               gap: int = 0,
               background: int = 0) -> np.ndarray:
    """Tiles in rows of ``cols``, each with an optional caption under it.

    Tile ``i`` (all ``(h, w, 3)`` ``uint8``) goes to row ``r = i // cols``,
    column ``c = i % cols``, its top-left corner at
    ``(y, x) = (r * (h + t + gap), c * (w + gap))`` where ``t`` is
    :data:`TEXT_HEIGHT` with labels and 0 without; the caption fills the
    ``t`` rows under the tile. The grid is ``ceil(n / cols) * (h + t) +
    (rows - 1) * gap`` by ``cols * w + (cols - 1) * gap`` pixels; unused
    places and gaps have the ``background`` value.

    Args:
        tiles: RGB tiles of one shape.
        cols: Tiles per row.
        labels: A caption per tile, or ``None`` for none.
        label_colours: A caption colour per tile (default white).
        gap: Pixels between neighbouring tiles.
        background: Grey level of the empty pixels.
    """
    if not tiles:
        raise ValueError('image_grid: no tiles to draw')
    if not isinstance(cols, int) or cols < 1:
        raise ValueError(
            f'image_grid: cols must be a positive integer, got {cols!r}')
    if not isinstance(gap, int) or gap < 0:
        raise ValueError(f'image_grid: gap must be an integer >= 0, '
                         f'got {gap!r}')
    shape = tiles[0].shape
    if len(shape) != 3 or shape[2] != 3:
        raise ValueError(f'image_grid: tiles must be RGB (h, w, 3), got '
                         f'shape {shape}')
    if any(tile.shape != shape for tile in tiles):
        raise ValueError('image_grid: tiles of different shapes '
                         f'{sorted({tile.shape for tile in tiles})}')
    for name, values in (('labels', labels), ('label_colours',
                                              label_colours)):
        if values is not None and len(values) != len(tiles):
            raise ValueError(f'image_grid: {len(values)} {name} for '
                             f'{len(tiles)} tiles')
    height, width = shape[:2]
    text_h = 0 if labels is None else TEXT_HEIGHT
    rows = math.ceil(len(tiles) / cols)
    grid = np.full((rows * (height + text_h) + (rows - 1) * gap,
                    cols * width + (cols - 1) * gap, 3), background,
                   np.uint8)
    for i, tile in enumerate(tiles):
        y = (i // cols) * (height + text_h + gap)
        x = (i % cols) * (width + gap)
        grid[y:y + height, x:x + width] = tile
        if labels is not None:
            colour = WHITE if label_colours is None else label_colours[i]
            grid[y + height:y + height + text_h, x:x + width] = text_image(
                labels[i], width, text_h, colour, background)
    return grid


def concat_images(images: Sequence[np.ndarray],
                  axis: int = 0,
                  gap: int = 0,
                  background: int = 0) -> np.ndarray:
    """RGB images one below the other (``axis=0``) or side by side
    (``axis=1``), ``gap`` pixels apart, aligned to the top-left and padded
    with ``background`` to the largest size across."""
    if not images:
        raise ValueError('concat_images: no images')
    if axis not in (0, 1):
        raise ValueError(f'concat_images: axis must be 0 or 1, got {axis!r}')
    across = 1 - axis
    size = max(image.shape[across] for image in images)
    parts = []
    for i, image in enumerate(images):
        pad = [(0, 0), (0, 0), (0, 0)]
        pad[across] = (0, size - image.shape[across])
        parts.append(np.pad(image, pad, constant_values=background))
        if gap and i < len(images) - 1:
            gap_shape = [0, 0, 3]
            gap_shape[axis], gap_shape[across] = gap, size
            parts.append(np.full(gap_shape, background, np.uint8))
    return np.concatenate(parts, axis=axis)
