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


def test_multimnist_parameter_count():
    # conv 512@9x9 + pool, conv 256@5x5 + pool, 'same': 36 -> 18 -> 9.
    net = BaselineCNN(input_size=(36, 36), conv_channels=(512, 256),
                      kernel_sizes=(9, 5), pool=True, fc_channels=(1024, ))
    convs = (81 * 512 + 512) + (25 * 512 * 256 + 256)
    fc = 256 * 9 * 9 * 1024 + 1024
    assert sum(p.numel() for p in net.parameters()) == convs + fc
    assert convs + fc + 1024 * 10 + 10 == 24563978  # the paper: 24.56 M


def test_pooling_per_layer_and_errors():
    net = BaselineCNN(conv_channels=(4, 4), kernel_sizes=(3, 5),
                      pool=(True, False), fc_channels=(8, ),
                      input_size=(13, 13)).eval()
    assert net.fcs[0].in_features == 4 * 6 * 6  # floor(13 / 2)
    assert net(torch.rand(2, 1, 13, 13))[0].shape == (2, 8)
    with pytest.raises(ValueError, match='2 convolutions but 3 kernel'):
        BaselineCNN(conv_channels=(4, 4), kernel_sizes=(3, 3, 3))
    with pytest.raises(ValueError, match='odd'):
        BaselineCNN(conv_channels=(4, ), kernel_sizes=4)
