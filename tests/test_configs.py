"""Every config in configs/ builds, and its model runs forward + backward."""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmpretrain.registry import DATASETS, MODELS, TRANSFORMS
from mmpretrain.structures import DataSample

import mmcaps  # noqa: F401

CONFIGS = sorted(
    str(p.relative_to(Path(__file__).resolve().parents[1]))
    for p in (Path(__file__).resolve().parents[1] / 'configs').rglob('*.py')
    if '_base_' not in p.parts)
REPO = Path(__file__).resolve().parents[1]


def test_configs_found():
    assert len(CONFIGS) >= 6


@pytest.mark.parametrize('config', CONFIGS)
def test_config_builds_and_trains_one_step(config):
    cfg = Config.fromfile(str(REPO / config))
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dataset = cfg[loader]['dataset']
        assert DATASETS.get(dataset['type']) is not None, dataset['type']
        for t in dataset['pipeline']:
            assert TRANSFORMS.get(t['type']) is not None, t['type']
    model_cfg = cfg.model.copy()
    model_cfg.setdefault('data_preprocessor', cfg.get('data_preprocessor'))
    model = MODELS.build(model_cfg)
    model.init_weights()
    torch.manual_seed(0)
    data = dict(
        inputs=list(torch.randint(0, 256, (2, 1, 28, 28), dtype=torch.uint8)),
        data_samples=[DataSample().set_gt_label(i) for i in (3, 7)])
    batch = model.data_preprocessor(data, training=True)
    losses = model(**batch, mode='loss')
    loss = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(loss)
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    model.eval()
    with torch.no_grad():
        preds = model(**model.data_preprocessor(data), mode='predict')
    assert [p.pred_score.shape for p in preds] == [(10, )] * 2
