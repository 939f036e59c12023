import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmpretrain.registry import MODELS, TRANSFORMS
from mmpretrain.structures import DataSample

import mmcaps  # noqa: F401
from mmcaps.models.backbones import EfficientCapsNet
from mmcaps.models.layers import DepthwisePrimaryCaps
from mmcaps.models.routings import SelfAttentionRouting

REPO = Path(__file__).resolve().parents[3]
CONFIG = REPO / 'configs/efficient_capsnet/efficient-capsnet_1xb16_mnist.py'


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_paper_backbone_shape():
    net = EfficientCapsNet()
    assert net.feature_size(28, 28) == (9, 9)
    assert net.num_capsules(28, 28) == 16
    out = net(torch.rand(2, 1, 28, 28))
    assert isinstance(out, tuple) and len(out) == 1
    assert out[0].shape == (2, 16, 8)
    assert out[0].norm(dim=-1).max() < 1


def test_paper_layers():
    # Unpadded convs 32@5x5, 64@3x3, 64@3x3, 128@3x3/2, each with a bias,
    # then ReLU, then BN with Keras' momentum 0.99 and epsilon 1e-3.
    net = EfficientCapsNet()
    convs = [m for m in net.convs if isinstance(m, nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size, c.stride, c.padding)
            for c in convs] == [(32, (5, 5), (1, 1), (0, 0)),
                                (64, (3, 3), (1, 1), (0, 0)),
                                (64, (3, 3), (1, 1), (0, 0)),
                                (128, (3, 3), (2, 2), (0, 0))]
    assert all(c.bias is not None for c in convs)
    assert [type(m) for m in net.convs[:3]] == [
        nn.Conv2d, nn.ReLU, nn.BatchNorm2d
    ]
    bn = net.convs[2]
    assert bn.momentum == 0.01 and bn.eps == 1e-3
    assert isinstance(net.primary_caps, DepthwisePrimaryCaps)
    dw = net.primary_caps.conv
    assert dw.groups == 128 and dw.kernel_size == (9, 9)


def test_parameter_count_per_layer():
    # The paper: 161,824 trainable parameters for MNIST, without the
    # reconstruction decoder; BN running statistics are buffers (Keras
    # counts them as 576 non-trainable parameters).
    conv = [1 * 32 * 25 + 32, 32 * 64 * 9 + 64, 64 * 64 * 9 + 64,
            64 * 128 * 9 + 128]
    assert conv == [832, 18496, 36928, 73856]
    bn = 2 * (32 + 64 + 64 + 128)
    primary = 128 * 81 + 128
    fc_caps = 16 * 10 * 8 * 16
    log_priors = 10 * 16
    decoder = (160 * 512 + 512) + (512 * 1024 + 1024) + (1024 * 784 + 784)
    net = EfficientCapsNet()
    assert count(net) == sum(conv) + bn + primary == 141184
    assert count(net.primary_caps) == primary
    cfg = Config.fromfile(str(CONFIG))
    model = MODELS.build(cfg.model)
    assert count(model.head.capsules) == fc_caps + log_priors == 20640
    assert count(model) - count(model.head.decoder) == 161824
    assert count(model.head.decoder) == decoder == 1411344
    assert count(model) == 161824 + 1411344
    buffers = sum(b.numel() for name, b in model.named_buffers()
                  if 'running' in name)
    assert buffers == bn


def test_init_follows_official_code():
    torch.manual_seed(0)
    net = EfficientCapsNet()
    net.init_weights()
    # He normal on the convolutions, zero bias.
    w = net.convs[6].weight
    assert abs(w.std().item() / math.sqrt(2 / (64 * 9)) - 1) < 0.05
    assert all(float(net.convs[i].bias.abs().max()) == 0
               for i in (0, 3, 6, 9))
    # Glorot uniform on the depthwise kernel (128, 1, 9, 9).
    limit = math.sqrt(6 / (81 + 128 * 81))
    dw = net.primary_caps.conv
    assert dw.weight.abs().max() <= limit
    assert dw.weight.abs().max() > 0.95 * limit
    assert float(dw.bias.abs().max()) == 0
    # Keras' he_normal on the FCCaps W: std sqrt(2 / 1280) / 0.8796, the
    # head's init_std.
    model = MODELS.build(Config.fromfile(str(CONFIG)).model)
    assert model.head.capsules.init_std == 0.04494
    model.init_weights()
    w = model.head.capsules.weight
    assert w.abs().max() <= 0.08988
    assert abs(w.std().item() / 0.0396 - 1) < 0.05
    routing = model.head.capsules.routing
    assert isinstance(routing, SelfAttentionRouting)
    assert float(routing.log_priors.abs().max()) == 0


def test_wrong_images():
    net = EfficientCapsNet()
    with pytest.raises(ValueError, match=r'\(B, 1, H, W\)'):
        net(torch.rand(1, 3, 28, 28))
    # 20x20 -> 5x5 feature map, under the 9x9 PrimaryCaps kernel.
    with pytest.raises(ValueError, match='20x20 image leaves a 5x5 feature '
                       'map, smaller than the 9x9 PrimaryCaps kernel'):
        net(torch.rand(1, 1, 20, 20))
    with pytest.raises(ValueError, match='smaller than the 9x9 kernel'):
        net.primary_caps(torch.rand(1, 128, 8, 8))
    with pytest.raises(ValueError, match=r'\(B, 128, H, W\)'):
        net.primary_caps(torch.rand(1, 64, 9, 9))


def test_image_size_against_head_capsules():
    # 30x30 gives a 2x2 capsule grid, 64 capsules: the head built for 16
    # says so.
    model = MODELS.build(Config.fromfile(str(CONFIG)).model)
    assert model.backbone.num_capsules(30, 30) == 64
    with pytest.raises(ValueError, match=r'\(B, 16, 8\), got \(1, 64, 8\)'):
        model.head(model.extract_feat(torch.rand(1, 1, 30, 30)))


@pytest.mark.parametrize('kwargs, match', [
    (dict(kernel_sizes=(5, 3, 3)), 'one of each per convolution'),
    (dict(conv_channels=(), kernel_sizes=(), strides=()),
     'one of each per convolution'),
    (dict(conv_channels=(32, 64, 64, 100)), 'multiple of capsule_dim=8'),
    (dict(primary_kernel=0), 'kernel_size'),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        EfficientCapsNet(**kwargs)


def test_config_trains():
    # The MNIST config's model: finite gradients everywhere, and a few
    # Adam steps on one batch decrease the loss.
    cfg = Config.fromfile(str(CONFIG))
    assert cfg.train_dataloader.batch_size == 16
    assert cfg.optim_wrapper.optimizer.lr == 5e-4
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    data = dict(
        inputs=list(torch.randint(0, 256, (4, 1, 28, 28), dtype=torch.uint8)),
        data_samples=[DataSample().set_gt_label(i) for i in (3, 7, 1, 0)])
    batch = model.data_preprocessor(data, training=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    losses = []
    for _ in range(5):
        loss_dict = model(**batch, mode='loss')
        assert set(loss_dict) == {'loss_margin', 'loss_recon'}
        loss = sum(loss_dict.values())
        optimizer.zero_grad()
        loss.backward()
        assert all(torch.isfinite(p.grad).all() for p in model.parameters())
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.9 * losses[0], losses
    model.eval()
    with torch.no_grad():
        preds = model(**model.data_preprocessor(data), mode='predict')
    assert [p.pred_score.shape for p in preds] == [(10, )] * 4


def test_config_augmentation():
    # Rotate draws 0 degrees half of the time, else |N(0, 9.9)| (clipped
    # to 30) with a random sign: the official rotation distribution.
    cfg = Config.fromfile(str(CONFIG))
    pipeline = [TRANSFORMS.build(t) for t in cfg.train_pipeline]
    rotate = pipeline[0]
    np.random.seed(0)
    angles = np.array([rotate.random_magnitude() for _ in range(4000)])
    assert abs((angles == 0).mean() - 0.5) < 0.03
    assert angles.max() <= 30
    nonzero = angles[angles > 0]
    assert abs(nonzero.mean() / (9.9 * math.sqrt(2 / math.pi)) - 1) < 0.05
    img = np.zeros((28, 28), dtype=np.uint8)
    img[10:18, 12:16] = 255
    results = dict(img=img, gt_label=3)
    for t in pipeline:
        results = t(results)
    assert results['inputs'].shape == (1, 28, 28)
    assert results['inputs'].dtype == torch.uint8
