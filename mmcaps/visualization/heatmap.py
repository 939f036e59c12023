"""Values as colours: heat maps and their colour bar."""
import cv2
import numpy as np

from .grid import text_image
from .image import ArrayLike, to_numpy

__all__ = ['colour_bar', 'heat_levels', 'heat_map']

# Perceptually uniform and readable in grey print.
DEFAULT_COLOURMAP = cv2.COLORMAP_VIRIDIS


def heat_levels(values: ArrayLike, vmin: float, vmax: float) -> np.ndarray:
    """Colour-map indices of ``values``: ``round(255 * (v - vmin) /
    (vmax - vmin))``, values outside ``[vmin, vmax]`` clipped to it, as
    ``uint8`` of the same shape."""
    if not vmax > vmin:
        raise ValueError(
            f'heat_levels: need vmax > vmin, got vmin={vmin}, vmax={vmax}')
    values = to_numpy(values).astype(np.float64)
    scaled = (np.clip(values, vmin, vmax) - vmin) / (vmax - vmin)
    return (scaled * 255).round().astype(np.uint8)


def heat_map(values: ArrayLike,
             vmin: float,
             vmax: float,
             colourmap: int = DEFAULT_COLOURMAP) -> np.ndarray:
    """``(H, W)`` values -> ``(H, W, 3)`` RGB ``uint8``: each value
    coloured by the OpenCV ``colourmap`` at :func:`heat_levels`."""
    levels = heat_levels(values, vmin, vmax)
    if levels.ndim != 2:
        raise ValueError(f'heat_map: expected values (H, W), got shape '
                         f'{levels.shape}')
    return cv2.cvtColor(cv2.applyColorMap(levels, colourmap),
                        cv2.COLOR_BGR2RGB)


def colour_bar(width: int,
               vmin: float,
               vmax: float,
               name: str = '',
               height: int = 10,
               colourmap: int = DEFAULT_COLOURMAP) -> np.ndarray:
    """The key of :func:`heat_map`: a ``height``-pixel strip running from
    ``vmin``'s colour (left) to ``vmax``'s (right), over a caption naming
    the two values and the quantity ``name``.
    ``(height + TEXT_HEIGHT, width, 3)``."""
    ramp = np.linspace(vmin, vmax, width)[None].repeat(height, axis=0)
    caption = text_image(
        f'{name}{" " if name else ""}{vmin:.3g} (left) .. {vmax:.3g} '
        '(right)', width)
    return np.concatenate([heat_map(ramp, vmin, vmax, colourmap), caption])
