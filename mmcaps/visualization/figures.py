"""The figures of the visualisation tools and hook, from plain arrays."""
from typing import Optional, Sequence, Tuple

import numpy as np

from .grid import (TEXT_HEIGHT, WHITE, WRONG, concat_images, image_grid,
                   text_image)
from .heatmap import colour_bar, heat_map
from .image import ArrayLike, colour_overlay, to_numpy, to_rgb, upscale

__all__ = [
    'PREDICTED', 'coupling_figure', 'coupling_maps', 'perturbation_figure',
    'reconstruction_figure', 'reconstruction_tile'
]

# Caption colour of the predicted class in the coupling figure.
PREDICTED = (255, 220, 0)
# Pixels between the tiles and parts of a figure, and between the blocks
# of a perturbation figure.
_GAP = 4
_BLOCK_GAP = 16
# Width of the dimension labels left of a perturbation block.
_ROW_LABEL_WIDTH = 24


def reconstruction_tile(image: ArrayLike, recons: ArrayLike) -> np.ndarray:
    """An input beside its reconstructions: ``(C, H, W)`` and
    ``(P, C, H, W)`` -> ``(H, 2 * W, 3)``.

    One reconstruction is drawn as it is; several (grey images only) are
    overlaid in red, green (and blue), overlaps yellow.
    """
    recons = to_numpy(recons)
    if recons.ndim != 4:
        raise ValueError('reconstruction_tile: expected reconstructions '
                         f'(P, C, H, W), got shape {recons.shape}')
    if recons.shape[0] == 1:
        right = to_rgb(recons[0])
    elif recons.shape[1] == 1:
        right = colour_overlay(recons[:, 0])
    else:
        raise ValueError('reconstruction_tile: several reconstructions are '
                         'overlaid in colour, so they must be grey (C = 1), '
                         f'got {recons.shape[1]} channels')
    return np.concatenate([to_rgb(image), right], axis=1)


def reconstruction_figure(images: ArrayLike,
                          recons: ArrayLike,
                          gt_labels: Sequence[Sequence[int]],
                          pred_labels: Sequence[Sequence[int]],
                          cols: int = 4,
                          scale: int = 4) -> np.ndarray:
    """Inputs next to their reconstructions, captioned with the true and
    predicted classes (in red when they differ as sets).

    Args:
        images: ``(B, C, H, W)`` inputs in ``[0, 1]``.
        recons: ``(B, P, C, H, W)`` reconstructions from the ``P``
            predicted classes' capsules.
        gt_labels: The true classes of each sample.
        pred_labels: ``(B, P)`` predicted classes, longest capsule first.
        cols: Tiles per row.
        scale: Pixels per image pixel.

    Returns:
        ``(rows * (H * scale + TEXT_HEIGHT + 4) - 4,
        cols * (2 * W * scale + 4) - 4, 3)``: tiles 4 pixels apart
        (see :func:`reconstruction_tile`), ``rows = ceil(B / cols)``.
    """
    images, recons = to_numpy(images), to_numpy(recons)
    pred_labels = [list(map(int, p)) for p in pred_labels]
    if not len(images) == len(recons) == len(gt_labels) == len(pred_labels):
        raise ValueError(
            f'reconstruction_figure: {len(images)} images, {len(recons)} '
            f'reconstructions, {len(gt_labels)} labels and '
            f'{len(pred_labels)} predictions; give one of each per sample')
    tiles = [
        upscale(reconstruction_tile(image, recon), scale)
        for image, recon in zip(images, recons)
    ]
    labels = [
        f'gt {",".join(map(str, gt))}  pred {",".join(map(str, pred))}'
        for gt, pred in zip(gt_labels, pred_labels)
    ]
    colours = [
        WHITE if set(gt) == set(pred) else WRONG
        for gt, pred in zip(gt_labels, pred_labels)
    ]
    return image_grid(tiles, cols, labels, colours, gap=_GAP)


def perturbation_figure(recons: ArrayLike,
                        values: Sequence[float],
                        titles: Sequence[str],
                        scale: int = 2) -> np.ndarray:
    """Reconstructions from perturbed capsules (the paper's Figure 4), one
    block per sample, side by side.

    A block has a title line, a line of the perturbation values over the
    columns, and the ``D x S`` reconstructions: row ``d`` (labelled ``d``
    on the left) perturbs dimension ``d``, column ``s`` adds
    ``values[s]``.

    Args:
        recons: ``(N, D, S, C, H, W)`` in ``[0, 1]``, e.g. from
            :func:`~mmcaps.visualization.perturbed_reconstructions`.
        values: The ``S`` perturbations.
        titles: A title per sample.
        scale: Pixels per image pixel.

    Returns:
        ``(2 * TEXT_HEIGHT + D * H * scale, N * block_w + (N - 1) * 16,
        3)`` with ``block_w = 24 + S * W * scale``.
    """
    recons = to_numpy(recons)
    if recons.ndim != 6:
        raise ValueError('perturbation_figure: expected reconstructions '
                         f'(N, D, S, C, H, W), got shape {recons.shape}')
    num, num_dims, num_values = recons.shape[:3]
    if len(values) != num_values or len(titles) != num:
        raise ValueError(
            f'perturbation_figure: {num_values} columns need as many '
            f'values (got {len(values)}), {num} samples as many titles '
            f'(got {len(titles)})')
    tile_h, tile_w = (s * scale for s in recons.shape[-2:])
    header = concat_images(
        [np.zeros((TEXT_HEIGHT, _ROW_LABEL_WIDTH, 3), np.uint8)] +
        [text_image(f'{v:+.2f}', tile_w) for v in values],
        axis=1)
    row_labels = concat_images(
        [text_image(str(d), _ROW_LABEL_WIDTH, tile_h)
         for d in range(num_dims)])
    blocks = []
    for title, sample in zip(titles, recons):
        tiles = [upscale(to_rgb(image), scale)
                 for image in sample.reshape(-1, *sample.shape[2:])]
        body = concat_images([row_labels, image_grid(tiles, num_values)],
                             axis=1)
        blocks.append(
            concat_images(
                [text_image(title, body.shape[1]), header, body]))
    return concat_images(blocks, axis=1, gap=_BLOCK_GAP)


def coupling_maps(coupling: ArrayLike,
                  grid: Tuple[int, int, int],
                  reduce: str = 'mean') -> np.ndarray:
    """Coupling coefficients laid out on the input capsules' grid.

    ``(K, N_in)`` with ``N_in = T * H * W`` input capsules ordered
    type-major, then row, column (as :class:`~mmcaps.models.PrimaryCaps`
    makes them) -> ``(K, T, H, W)`` with ``reduce='types'`` or the mean
    over the ``T`` types, ``(K, 1, H, W)``, with ``reduce='mean'``.
    """
    coupling = to_numpy(coupling)
    types, height, width = grid
    if coupling.ndim != 2 or coupling.shape[1] != types * height * width:
        raise ValueError(
            f'coupling_maps: coefficients of shape {coupling.shape} do not '
            f'fit a grid of {types} types x {height} x {width} (expected '
            f'(K, {types * height * width}))')
    if reduce not in ('mean', 'types'):
        raise ValueError("coupling_maps: reduce must be 'mean' or 'types', "
                         f'got {reduce!r}')
    maps = coupling.reshape(-1, types, height, width)
    return maps.mean(axis=1, keepdims=True) if reduce == 'mean' else maps


def coupling_figure(image: ArrayLike,
                    maps: ArrayLike,
                    lengths: Sequence[float],
                    title: str,
                    cols: int = 5,
                    cell: int = 16,
                    scale: int = 4,
                    type_cols: int = 8,
                    vmin: Optional[float] = None,
                    vmax: Optional[float] = None) -> np.ndarray:
    """An input and, per class capsule, heat maps of its coupling
    coefficients over the input capsules' grid.

    Top: the input (``scale`` pixels per pixel) over ``title``. Middle: one
    tile per class ``k`` in rows of ``cols``, captioned ``k |v|=length``
    (the longest, predicted, in yellow): the ``T`` maps of ``maps[k]``
    (``cell`` pixels per grid cell) in rows of ``type_cols``, 1 pixel
    apart. Bottom: the colour scale from ``vmin`` to ``vmax``, by default
    the smallest and largest value drawn: coefficients after routing often
    stay within a few hundredths of uniform (``1 / K``), which a scale
    from 0 would hide.

    Args:
        image: ``(C, H, W)`` input in ``[0, 1]``.
        maps: ``(K, T, h, w)`` from :func:`coupling_maps`.
        lengths: The ``K`` class capsules' lengths.
        title: The caption of the input.
        cols: Class tiles per row.
        cell: Pixels per grid cell.
        scale: Pixels per input pixel.
        type_cols: Maps per row within a class tile.
        vmin: Value of the bottom colour.
        vmax: Value of the top colour.
    """
    maps = to_numpy(maps)
    if maps.ndim != 4 or maps.shape[0] != len(lengths):
        raise ValueError(
            f'coupling_figure: expected maps (K, T, h, w) for {len(lengths)}'
            f' classes, got shape {maps.shape}')
    vmin = float(maps.min()) if vmin is None else vmin
    vmax = float(maps.max()) if vmax is None else vmax
    if vmax == vmin:
        # Uniform coupling (e.g. one routing iteration): one colour.
        vmin, vmax = vmin - 0.5, vmin + 0.5
    top = image_grid([upscale(to_rgb(image), scale)], 1, [title])
    predicted = int(np.argmax(lengths))
    tiles = [
        image_grid(
            [upscale(heat_map(m, vmin, vmax), cell) for m in class_maps],
            min(type_cols, len(class_maps)),
            gap=1) for class_maps in maps
    ]
    classes = image_grid(
        tiles,
        cols,
        labels=[f'{k} |v|={length:.2f}' for k, length in enumerate(lengths)],
        label_colours=[
            PREDICTED if k == predicted else WHITE
            for k in range(len(lengths))
        ],
        gap=_GAP)
    return concat_images(
        [top, classes, colour_bar(classes.shape[1], vmin, vmax, 'c_ij')],
        gap=_GAP)
