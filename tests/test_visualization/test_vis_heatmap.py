"""mmcaps.visualization.heatmap: value -> colour."""
import numpy as np
import pytest

from mmcaps.visualization import TEXT_HEIGHT, colour_bar, heat_levels, heat_map

# Viridis' ends (matplotlib's #440154 and #fde725).
VIRIDIS_LOW = (68, 1, 84)
VIRIDIS_HIGH = (253, 231, 37)


def test_heat_levels_linear_and_clipped():
    values = np.array([[-1., 0.5, 1.], [0.75, 2., 0.625]])
    levels = heat_levels(values, 0.5, 1.)
    np.testing.assert_array_equal(levels, [[0, 0, 255], [128, 255, 64]])
    with pytest.raises(ValueError, match='vmax > vmin'):
        heat_levels(values, 0.2, 0.2)


def test_heat_map_ends_are_viridis():
    out = heat_map(np.array([[0., 1.]]), 0., 1.)
    assert out.shape == (1, 2, 3) and out.dtype == np.uint8
    assert tuple(out[0, 0]) == VIRIDIS_LOW
    assert tuple(out[0, 1]) == VIRIDIS_HIGH
    with pytest.raises(ValueError, match=r'\(H, W\)'):
        heat_map(np.zeros((1, 2, 2)), 0., 1.)


def test_colour_bar_runs_low_to_high():
    bar = colour_bar(50, 0.1, 0.2, 'c', height=6)
    assert bar.shape == (6 + TEXT_HEIGHT, 50, 3)
    assert tuple(bar[0, 0]) == VIRIDIS_LOW
    assert tuple(bar[5, 49]) == VIRIDIS_HIGH
    assert bar[6:].max() > 0  # the caption
