"""mmcaps.visualization.image: conversions to RGB uint8 and PNG files."""
import cv2
import numpy as np
import pytest
import torch

from mmcaps.visualization import colour_overlay, to_rgb, upscale, write_png


def test_to_rgb_grey_and_colour():
    grey = torch.tensor([[0., 0.5], [1., 2.]])  # 2.0 is clipped to white
    expected = np.array([[0, 128], [255, 255]], np.uint8)
    for image in (grey, grey[None], grey.numpy()):
        rgb = to_rgb(image)
        assert rgb.shape == (2, 2, 3) and rgb.dtype == np.uint8
        for c in range(3):
            np.testing.assert_array_equal(rgb[..., c], expected)
    colour = torch.zeros(3, 1, 2)
    colour[0, 0, 0], colour[2, 0, 1] = 1., 0.2
    np.testing.assert_array_equal(
        to_rgb(colour), [[[255, 0, 0], [0, 0, 51]]])
    uint8 = np.full((1, 2), 7, np.uint8)
    np.testing.assert_array_equal(to_rgb(uint8), np.full((1, 2, 3), 7))


def test_to_rgb_rejects_other_shapes():
    with pytest.raises(ValueError, match=r'\(H, W\), \(1, H, W\)'):
        to_rgb(np.zeros((2, 4, 4)))


def test_colour_overlay_adds_colours():
    channels = np.array([[[1.0, 0.0, 0.5]], [[1.0, 0.4, 0.0]]])
    out = colour_overlay(channels)
    # First in red, second in green, both at 1 = yellow.
    np.testing.assert_array_equal(
        out, [[[255, 255, 0], [0, 102, 0], [128, 0, 0]]])
    # Colours that add up past 255 are clipped.
    grey = colour_overlay(channels, colours=((200, 200, 200), (100, 0, 0)))
    np.testing.assert_array_equal(grey[0, 0], [255, 200, 200])
    with pytest.raises(ValueError, match='only 1 colours'):
        colour_overlay(channels, colours=((255, 0, 0), ))
    with pytest.raises(ValueError, match=r'\(P, H, W\)'):
        colour_overlay(channels[0])


def test_upscale_blocks():
    image = np.arange(6).reshape(2, 3)
    big = upscale(image, 3)
    assert big.shape == (6, 9)
    for y in range(6):
        for x in range(9):
            assert big[y, x] == image[y // 3, x // 3]
    with pytest.raises(ValueError, match='scale'):
        upscale(image, 0)


def test_write_png_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    path = tmp_path / 'sub' / 'image.png'
    write_png(str(path), image)
    assert path.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    back = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(back, image)
    with pytest.raises(ValueError, match='RGB uint8'):
        write_png(str(path), image.astype(np.float32))
