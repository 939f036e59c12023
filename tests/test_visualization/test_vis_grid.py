"""mmcaps.visualization.grid: tile placement, captions and stacking."""
import numpy as np
import pytest

from mmcaps.visualization import (TEXT_HEIGHT, concat_images, image_grid,
                                  text_image)


def tiles_of(num, height, width):
    """Tiles whose every pixel holds the tile's number + 1."""
    return [np.full((height, width, 3), i + 1, np.uint8) for i in range(num)]


@pytest.mark.parametrize('gap', [0, 2])
def test_grid_places_tile_r_c(gap):
    h, w, cols = 3, 4, 3
    grid = image_grid(tiles_of(5, h, w), cols, gap=gap, background=200)
    assert grid.shape == (2 * h + gap, 3 * w + 2 * gap, 3)
    owner = np.full(grid.shape[:2], 200)
    for i in range(5):
        r, c = divmod(i, cols)
        y, x = r * (h + gap), c * (w + gap)
        owner[y:y + h, x:x + w] = i + 1
    for ch in range(3):
        np.testing.assert_array_equal(grid[..., ch], owner)


def test_grid_captions_under_tiles():
    h, w = 2, 60
    grid = image_grid(tiles_of(2, h, w), 1, labels=['7', ''],
                      label_colours=[(0, 255, 0), (255, 0, 0)])
    assert grid.shape == (2 * (h + TEXT_HEIGHT), w, 3)
    np.testing.assert_array_equal(grid[:h], 1)
    np.testing.assert_array_equal(grid[h + TEXT_HEIGHT:2 * h + TEXT_HEIGHT],
                                  2)
    caption = grid[h:h + TEXT_HEIGHT]
    # Drawn in the caption colour: green only.
    assert caption[..., 1].max() > 100
    assert caption[..., 0].max() == caption[..., 2].max() == 0
    np.testing.assert_array_equal(grid[2 * h + TEXT_HEIGHT:], 0)
    np.testing.assert_array_equal(caption, text_image('7', w, TEXT_HEIGHT,
                                                      (0, 255, 0)))


def test_grid_rejects_bad_input():
    with pytest.raises(ValueError, match='no tiles'):
        image_grid([], 2)
    with pytest.raises(ValueError, match='cols'):
        image_grid(tiles_of(2, 2, 2), 0)
    with pytest.raises(ValueError, match='different shapes'):
        image_grid(tiles_of(1, 2, 2) + tiles_of(1, 3, 2), 2)
    with pytest.raises(ValueError, match='1 labels for 2 tiles'):
        image_grid(tiles_of(2, 2, 2), 2, labels=['a'])
    with pytest.raises(ValueError, match=r'RGB \(h, w, 3\)'):
        image_grid([np.zeros((2, 2), np.uint8)], 1)


def test_concat_pads_and_gaps():
    a = np.full((2, 3, 3), 1, np.uint8)
    b = np.full((1, 5, 3), 2, np.uint8)
    out = concat_images([a, b], axis=0, gap=1, background=9)
    assert out.shape == (4, 5, 3)
    np.testing.assert_array_equal(out[:2, :3], 1)
    np.testing.assert_array_equal(out[:2, 3:], 9)
    np.testing.assert_array_equal(out[2], 9)
    np.testing.assert_array_equal(out[3], 2)
    side = concat_images([a, b], axis=1)
    assert side.shape == (2, 8, 3)
    np.testing.assert_array_equal(side[1, 3:], 0)
    with pytest.raises(ValueError, match='axis'):
        concat_images([a], axis=2)
