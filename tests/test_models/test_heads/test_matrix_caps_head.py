import pytest
import torch
from mmpretrain.structures import DataSample

import mmcaps  # noqa: F401
from mmcaps.models.heads import MatrixCapsHead
from mmcaps.models.losses import SpreadLoss
from mmcaps.models.routings import MatrixEMRouting


def make_head(**kwargs):
    cfg = dict(num_classes=4, in_types=2,
               routing=dict(type='MatrixEMRouting', num_iterations=2,
                            final_lambda=1.0))
    cfg.update(kwargs)
    return MatrixCapsHead(**cfg)


def feats(seed=0):
    g = torch.Generator().manual_seed(seed)
    return ((torch.randn(3, 2, 16, 2, 2, generator=g),
             torch.rand(3, 2, 2, 2, generator=g)), )


def samples(labels):
    return [DataSample().set_gt_label(int(x)) for x in labels]


def test_parameters():
    # T * K * P^2 + 2 * K.
    assert sum(p.numel() for p in make_head().parameters()) == 2 * 4 * 16 + 8
    routing = make_head().capsules.routing
    assert isinstance(routing, MatrixEMRouting) and routing.out_types == 4
    assert (routing.num_iterations, routing.final_lambda) == (2, 1.0)
    assert make_head().with_reconstruction is False


def test_predict_scores_are_class_activations():
    torch.manual_seed(0)
    head = make_head()
    poses, acts = head(feats())
    assert poses.shape == (3, 4, 16) and acts.shape == (3, 4)
    out = head.predict(feats())
    for i, s in enumerate(out):
        torch.testing.assert_close(s.pred_score, acts[i].detach())
        assert s.pred_label.item() == acts[i].argmax().item()


def test_loss_is_spread_loss_of_activations():
    torch.manual_seed(1)
    head = make_head(loss=dict(type='SpreadLoss', margin=0.5))
    labels = torch.tensor([3, 1, 0])
    losses = head.loss(feats(), samples(labels))
    _, acts = head(feats())
    torch.testing.assert_close(losses['loss_spread'],
                               SpreadLoss(margin=0.5)(acts, labels))
    losses['loss_spread'].backward()
    assert torch.isfinite(head.capsules.weight.grad).all()


def test_bad_arguments_and_samples():
    with pytest.raises(ValueError, match='num_classes must be an integer >= '
                       '2, got 1'):
        make_head(num_classes=1)
    with pytest.raises(ValueError, match="routing must be a MatrixEMRouting "
                       "config, got type 'EMRouting'"):
        make_head(routing=dict(type='EMRouting'))
    with pytest.raises(ValueError, match='one class per sample'):
        make_head().loss(
            feats(), [DataSample().set_gt_label([0, 1])] * 3)
