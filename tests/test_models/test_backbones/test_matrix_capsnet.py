from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import mmcaps  # noqa: F401
from mmcaps.models.backbones import MatrixCapsNet

REPO = Path(__file__).resolve().parents[3]
CONFIG = REPO / 'configs/matrix_capsnet/matrix-capsnet-em_1xb32_mnist.py'


def num_params(module):
    return sum(p.numel() for p in module.parameters())


def paper_count(in_channels, a, b, c, d, classes):
    """The paper's architecture counted layer by layer (4x4 poses)."""
    conv1 = (5 * 5 * in_channels + 1) * a  # 5x5 conv, bias
    primary = (a + 1) * b * (16 + 1)  # 1x1 conv to B poses + activations
    caps1 = 3 * 3 * b * c * 16 + 2 * c  # a 4x4 W per (kernel pos, B, C)
    caps2 = 3 * 3 * c * d * 16 + 2 * d  # + beta_u, beta_a per type
    class_caps = d * classes * 16 + 2 * classes  # W shared over positions
    return conv1 + primary + caps1 + caps2 + class_caps


def build_model(classes=5, **backbone):
    routing = dict(type='MatrixEMRouting', num_iterations=1)
    backbone = dict(type='MatrixCapsNet', conv1_channels=64,
                    primary_types=8, caps1_types=16, caps2_types=16,
                    routing=routing, **backbone)
    return MODELS.build(
        dict(type='ImageClassifier', backbone=backbone,
             head=dict(type='MatrixCapsHead', num_classes=classes,
                       in_types=16, routing=routing)))


def test_paper_small_model_parameters():
    # The paper's small smallNORB model (A=64, B=8, C=D=16, 5 classes):
    # "about 68K" parameters; 67,154 on one input channel.
    assert paper_count(1, 64, 8, 16, 16, 5) == 67154
    assert num_params(build_model()) == 67154
    # Its main model, A=B=C=D=32: 316,394 ("310K" in the paper).
    big = MatrixCapsNet(conv1_channels=32, primary_types=32, caps1_types=32,
                        caps2_types=32)
    assert num_params(big) + 32 * 5 * 16 + 10 == paper_count(
        1, 32, 32, 32, 32, 5) == 316394


def test_mnist_config_parameters_and_one_step():
    cfg = Config.fromfile(str(CONFIG))
    model = MODELS.build(
        dict(cfg.model, data_preprocessor=cfg.data_preprocessor))
    assert num_params(model) == paper_count(1, 64, 8, 16, 16, 10) == 68444
    assert model.head.capsules.routing.num_iterations == 3
    assert model.head.capsules.coord_add
    assert model.head.loss_module.warmup_iters > 0
    data = dict(
        inputs=list(torch.randint(0, 256, (2, 1, 28, 28), dtype=torch.uint8)),
        data_samples=[DataSample().set_gt_label(i) for i in (3, 7)])
    losses = model(**model.data_preprocessor(data, True), mode='loss')
    assert set(losses) == {'loss_spread'}
    losses['loss_spread'].backward()
    assert all(
        p.grad is not None and torch.isfinite(p.grad).all()
        for p in model.parameters())


@pytest.mark.parametrize('size,grid', [(28, 3), (32, 4)])
def test_output_grid(size, grid):
    torch.manual_seed(0)
    backbone = MatrixCapsNet(conv1_channels=4, primary_types=2,
                             caps1_types=2, caps2_types=3,
                             routing=dict(num_iterations=1))
    (poses, acts), = backbone(torch.rand(2, 1, size, size))
    assert poses.shape == (2, 3, 16, grid, grid)
    assert acts.shape == (2, 3, grid, grid)
    assert ((acts > 0) & (acts < 1)).all()


def test_bad_input():
    backbone = MatrixCapsNet(conv1_channels=4, primary_types=2,
                             caps1_types=2, caps2_types=2)
    with pytest.raises(ValueError, match=r'expects images \(N, 1, H, W\)'):
        backbone(torch.rand(2, 3, 28, 28))
    # 12x12 -> Conv1 4x4 -> ConvCaps1 1x1: ConvCaps2's 3x3 kernel does not
    # fit.
    with pytest.raises(ValueError, match=r'kernel_size=3 is larger than the '
                       r'1x1 capsule map'):
        backbone(torch.rand(2, 1, 12, 12))
