"""mmcaps.visualization.figures: pixels of the figures on tiny inputs,
against loops over the expected layout."""
import numpy as np
import pytest
import torch

from mmcaps.visualization import (TEXT_HEIGHT, coupling_figure, coupling_maps,
                                  heat_map, perturbation_figure,
                                  reconstruction_figure, reconstruction_tile)

VIRIDIS_LOW = (68, 1, 84)
VIRIDIS_HIGH = (253, 231, 37)


def test_reconstruction_tile_single_and_overlay():
    image = torch.tensor([[[0., 1.]]])  # (1, 1, 2)
    one = reconstruction_tile(image, torch.tensor([[[[0.2, 0.4]]]]))
    np.testing.assert_array_equal(
        one[0, :, 0], [0, 255, 51, 102])  # input | recon, grey
    two = reconstruction_tile(
        image, torch.tensor([[[[1., 0.]]], [[[1., 1.]]]]))
    np.testing.assert_array_equal(
        two[0, 2:], [[255, 255, 0], [0, 255, 0]])  # red + green
    with pytest.raises(ValueError, match='must be grey'):
        reconstruction_tile(torch.zeros(3, 2, 2), torch.zeros(2, 3, 2, 2))
    with pytest.raises(ValueError, match=r'\(P, C, H, W\)'):
        reconstruction_tile(image, torch.zeros(1, 2, 2))


def test_reconstruction_figure_layout_and_captions():
    rng = np.random.default_rng(0)
    images = rng.random((3, 1, 2, 2))
    recons = rng.random((3, 1, 1, 2, 2))
    scale, cols = 2, 2
    figure = reconstruction_figure(images, recons, [[1], [2], [3]],
                                   [[1], [5], [3]], cols, scale)
    tile_h, tile_w = 2 * scale + TEXT_HEIGHT + 4, 2 * 2 * scale + 4
    assert figure.shape == (2 * tile_h - 4, 2 * tile_w - 4, 3)
    for i in range(3):
        y0, x0 = (i // cols) * tile_h, (i % cols) * tile_w
        for y in range(2 * scale):
            for x in range(2 * 2 * scale):
                py, px = y // scale, x // scale
                value = (images[i, 0, py, px] if px < 2 else
                         recons[i, 0, 0, py, px - 2])
                assert figure[y0 + y, x0 + x, 0] == round(value * 255)
    # Sample 1 (gt 2, pred 5) is captioned in red, the others in white.
    caption = figure[2 * scale:2 * scale + TEXT_HEIGHT, tile_w:]
    assert caption[..., 0].max() == 255 and caption[..., 1].max() < 100
    caption = figure[2 * scale:2 * scale + TEXT_HEIGHT, :tile_w - 4]
    assert caption[..., 1].max() == 255
    with pytest.raises(ValueError, match='one of each per sample'):
        reconstruction_figure(images, recons, [[1]], [[1], [5], [3]])


def test_perturbation_figure_layout():
    num, dims, steps = 2, 3, 2
    recons = np.arange(num * dims * steps * 4, dtype=np.float64).reshape(
        num, dims, steps, 1, 2, 2) / 100
    figure = perturbation_figure(recons, [-0.5, 0.5], ['a', 'b'], scale=1)
    block_w = 24 + steps * 2
    assert figure.shape == (2 * TEXT_HEIGHT + dims * 2, 2 * block_w + 16, 3)
    for n in range(num):
        for d in range(dims):
            for s in range(steps):
                for y in range(2):
                    for x in range(2):
                        pixel = figure[2 * TEXT_HEIGHT + d * 2 + y,
                                       n * (block_w + 16) + 24 + s * 2 + x]
                        assert tuple(pixel) == (round(
                            recons[n, d, s, 0, y, x] * 255), ) * 3
    np.testing.assert_array_equal(figure[:, block_w:block_w + 16], 0)
    with pytest.raises(ValueError, match='as many titles'):
        perturbation_figure(recons, [-0.5, 0.5], ['a'])


def test_coupling_maps_layout():
    types, height, width = 3, 2, 4
    coupling = np.random.default_rng(0).random((5, types * height * width))
    maps = coupling_maps(coupling, (types, height, width), 'types')
    means = coupling_maps(coupling, (types, height, width))
    assert maps.shape == (5, 3, 2, 4) and means.shape == (5, 1, 2, 4)
    for k in range(5):
        for r in range(height):
            for c in range(width):
                column = [
                    coupling[k, t * height * width + r * width + c]
                    for t in range(types)
                ]
                for t in range(types):
                    assert maps[k, t, r, c] == column[t]
                assert means[k, 0, r, c] == pytest.approx(sum(column) / 3)
    with pytest.raises(ValueError, match=r'expected \(K, 24\)'):
        coupling_maps(coupling[:, 1:], (types, height, width))
    with pytest.raises(ValueError, match='reduce'):
        coupling_maps(coupling, (types, height, width), 'sum')


def test_coupling_figure_known_coefficients():
    # Two classes, one type on a 2x2 grid; class 1's map spans the range.
    maps = np.array([[[[0.4, 0.4], [0.4, 0.4]]], [[[0.2, 0.6], [0.4,
                                                                0.5]]]])
    image = np.ones((1, 4, 4))
    cell, gap = 3, 4
    figure = coupling_figure(image, maps, [0.1, 0.9], 'x', cols=2,
                             cell=cell, scale=1)
    top_h = 4 + TEXT_HEIGHT
    tile = 2 * cell
    classes_h = tile + TEXT_HEIGHT
    assert figure.shape == (top_h + gap + classes_h + gap + 10 + TEXT_HEIGHT,
                            2 * tile + gap, 3)
    np.testing.assert_array_equal(figure[:4, :4], 255)  # the input
    y0 = top_h + gap
    for k in range(2):
        x0 = k * (tile + gap)
        for r in range(2):
            for c in range(2):
                expected = heat_map(maps[k, 0, r:r + 1, c:c + 1], 0.2, 0.6)
                block = figure[y0 + r * cell:y0 + (r + 1) * cell,
                               x0 + c * cell:x0 + (c + 1) * cell]
                assert (block == expected).all()
    assert tuple(figure[y0, tile + gap]) == VIRIDIS_LOW  # 0.2, the min
    assert tuple(figure[y0, tile + gap + cell]) == VIRIDIS_HIGH  # 0.6
    # The predicted (longest) class is captioned in yellow, others white.
    caption = figure[y0 + tile:y0 + classes_h]
    assert caption[:, tile + gap:, 2].max() < 100 < caption[:, tile + gap:,
                                                            0].max()
    assert caption[:, :tile, 2].max() > 200
    # A fixed scale; uniform coupling is drawn in one colour.
    fixed = coupling_figure(image, maps, [0.1, 0.9], 'x', 2, cell, 1,
                            vmin=0., vmax=0.4)
    assert tuple(fixed[y0, 0]) == VIRIDIS_HIGH
    flat = coupling_figure(image, np.full((2, 1, 2, 2), 0.1), [0.5, 0.4],
                           'x', 2, cell, 1)
    assert (flat[y0:y0 + tile, :tile] == flat[y0, 0]).all()
    with pytest.raises(ValueError, match='for 3 classes'):
        coupling_figure(image, maps, [0.1, 0.2, 0.3], 'x')
