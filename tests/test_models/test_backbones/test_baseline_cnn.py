import pytest
import torch

from mmcaps.models.backbones import BaselineCNN


def test_paper_parameter_count():
    net = BaselineCNN()
    convs = (25 * 1 * 256 + 256) + (25 * 256 * 256 + 256) + (
        25 * 256 * 128 + 128)
    fcs = (128 * 28 * 28 * 328 + 328) + (328 * 192 + 192)
    assert sum(p.numel() for p in net.parameters()) == convs + fcs
    assert convs + fcs + 192 * 10 + 10 == 35445522


def test_forward_and_size_check():
    net = BaselineCNN(conv_channels=(4, 4), fc_channels=(8, ), input_size=(
        12, 12)).eval()
    out = net(torch.rand(3, 1, 12, 12))
    assert out[0].shape == (3, 8) and (out[0] >= 0).all()
    with pytest.raises(ValueError, match=r'\(12, 12\)'):
        net(torch.rand(3, 1, 28, 28))
