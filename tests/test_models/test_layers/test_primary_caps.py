import math
import re

import pytest
import torch
import torch.nn.functional as F

import mmcaps  # noqa: F401
from mmcaps.models.layers import DepthwisePrimaryCaps, PrimaryCaps
from mmcaps.models.utils import squash, squash_efficient


def test_capsule_is_channels_of_one_type_at_one_position():
    torch.manual_seed(0)
    layer = PrimaryCaps(4, num_types=3, capsule_dim=2, kernel_size=3,
                        stride=1)
    x = torch.randn(2, 4, 5, 6)
    caps = layer(x)
    conv = layer.conv(x)  # (2, 6, 3, 4)
    assert caps.shape == (2, 3 * 3 * 4, 2)
    for t in range(3):
        for h in range(3):
            for w in range(4):
                n = (t * 3 + h) * 4 + w
                expected = squash(conv[:, t * 2:(t + 1) * 2, h, w])
                torch.testing.assert_close(caps[:, n], expected)


def test_paper_primary_caps_count_and_params():
    layer = PrimaryCaps(256, 32, 8, 9, 2)
    assert layer.num_capsules(20, 20) == 1152
    assert layer(torch.randn(1, 256, 20, 20)).shape == (1, 1152, 8)
    assert sum(p.numel() for p in layer.parameters()) == 5308672
    # Squashed: every capsule shorter than 1.
    assert layer(torch.randn(1, 256, 20, 20)).norm(dim=-1).max() < 1


def test_wrong_channels():
    with pytest.raises(ValueError, match=r'\(B, 256, H, W\)'):
        PrimaryCaps(256)(torch.zeros(1, 3, 20, 20))


def test_output_grid_with_padding():
    layer = PrimaryCaps(3, num_types=2, capsule_dim=4, kernel_size=3,
                        stride=2, padding=1)
    # (7 + 2 - 3) // 2 + 1 = 4, (6 + 2 - 3) // 2 + 1 = 3.
    assert layer.output_grid(7, 6) == (4, 3)
    assert layer.num_capsules(7, 6) == 2 * 4 * 3
    assert layer(torch.rand(1, 3, 7, 6)).shape == (1, 24, 4)


@pytest.mark.parametrize('kwargs,name,value', [
    (dict(in_channels=0), 'in_channels', 0),
    (dict(num_types=True), 'num_types', True),
    (dict(capsule_dim=2.0), 'capsule_dim', 2.0),
    (dict(kernel_size=0), 'kernel_size', 0),
    (dict(stride=-1), 'stride', -1),
])
def test_bad_arguments(kwargs, name, value):
    with pytest.raises(ValueError, match='^' + re.escape(
            f'PrimaryCaps: {name} must be a positive integer, got '
            f'{value!r}') + '$'):
        PrimaryCaps(**{'in_channels': 4, **kwargs})
    with pytest.raises(ValueError, match='^' + re.escape(
            'PrimaryCaps: padding must be a non-negative integer, got -1')):
        PrimaryCaps(4, padding=-1)


# DepthwisePrimaryCaps, Efficient-CapsNet's primary capsules.


def loop_depthwise_capsules(x, conv, dim):
    """One channel at a time, capsules gathered with explicit loops:
    capsule (t, row, col) = channels t*D .. t*D + D - 1 at (row, col)."""
    maps = [
        F.conv2d(x[:, c:c + 1], conv.weight[c:c + 1], conv.bias[c:c + 1])
        for c in range(x.shape[1])
    ]
    out = torch.cat(maps, dim=1)
    _, channels, h, w = out.shape
    capsules = [
        out[:, t * dim:(t + 1) * dim, row, col]
        for t in range(channels // dim) for row in range(h)
        for col in range(w)
    ]
    return squash_efficient(torch.stack(capsules, dim=1))


@pytest.mark.parametrize('size', [9, 10])
def test_depthwise_primary_caps_matches_loop(size):
    # 9x9 -> a 1x1 grid (the paper); 10x10 -> 2x2, type-major ordering.
    torch.manual_seed(0)
    caps = DepthwisePrimaryCaps(12, capsule_dim=4, kernel_size=9)
    caps.init_weights()
    x = torch.randn(2, 12, size, size)
    out = caps(x)
    grid = size - 8
    assert out.shape == (2, 3 * grid * grid, 4)
    assert caps.num_capsules(size, size) == 3 * grid * grid
    torch.testing.assert_close(out, loop_depthwise_capsules(x, caps.conv, 4))


def test_depthwise_paper_parameters_and_glorot_init():
    # C * k^2 + C: 128 * 81 + 128 for the paper's MNIST model.
    torch.manual_seed(0)
    caps = DepthwisePrimaryCaps(128, 8, 9)
    assert sum(p.numel() for p in caps.parameters()) == 10496
    assert caps.conv.groups == 128 and caps.num_types == 16
    caps.init_weights()
    # Keras' Glorot uniform on the (128, 1, 9, 9) kernel, zero bias.
    limit = math.sqrt(6 / (81 + 128 * 81))
    assert caps.conv.weight.abs().max() <= limit
    assert caps.conv.weight.abs().max() > 0.95 * limit
    assert float(caps.conv.bias.abs().max()) == 0


def test_depthwise_grid_and_errors():
    caps = DepthwisePrimaryCaps(16, capsule_dim=8, kernel_size=3)
    assert caps.output_grid(5, 4) == (3, 2)
    assert caps.num_capsules(5, 4) == 2 * 3 * 2
    # Under the kernel: no capsules, and forward says why.
    assert caps.output_grid(2, 5) == (0, 3)
    assert caps.num_capsules(2, 5) == 0
    with pytest.raises(ValueError, match='^' + re.escape(
            'DepthwisePrimaryCaps: a 2x5 feature map is smaller than the '
            '3x3 kernel')):
        caps(torch.rand(1, 16, 2, 5))
    with pytest.raises(ValueError, match=re.escape(
            'DepthwisePrimaryCaps expects a feature map (B, 16, H, W), got '
            '(1, 8, 5, 5)')):
        caps(torch.rand(1, 8, 5, 5))
    with pytest.raises(ValueError, match='^' + re.escape(
            'DepthwisePrimaryCaps: in_channels=12 is not a multiple of '
            'capsule_dim=8')):
        DepthwisePrimaryCaps(12, capsule_dim=8)
    with pytest.raises(ValueError, match='^' + re.escape(
            'DepthwisePrimaryCaps: kernel_size must be a positive integer, '
            'got 0')):
        DepthwisePrimaryCaps(16, kernel_size=0)
