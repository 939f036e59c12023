import pytest
import torch

from mmcaps.models.utils import PrimaryCaps, squash


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
