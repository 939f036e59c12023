import pytest
import torch

from mmcaps.models.backbones import CapsNet


def test_paper_backbone():
    net = CapsNet()
    assert net.num_capsules(28, 28) == 1152
    out = net(torch.rand(2, 1, 28, 28))
    assert isinstance(out, tuple) and out[0].shape == (2, 1152, 8)
    assert out[0].norm(dim=-1).max() < 1
    assert sum(p.numel() for p in net.parameters()) == 20992 + 5308672


def test_small_backbone_capsule_count():
    net = CapsNet(in_channels=3, conv1_channels=16, conv1_kernel=5,
                  primary_types=4, primary_dim=6, primary_kernel=3,
                  primary_stride=2)
    # 32 -> 28 (conv1) -> 13 (primary) : 4 * 13 * 13 capsules.
    assert net.num_capsules(32, 32) == 4 * 13 * 13
    assert net(torch.rand(1, 3, 32, 32))[0].shape == (1, 676, 6)


def test_wrong_channels():
    with pytest.raises(ValueError, match=r'\(B, 1, H, W\)'):
        CapsNet()(torch.rand(1, 3, 28, 28))
