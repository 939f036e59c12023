"""BaseCapsHead: targets from data samples, scores as they are, the top-k
classes, and no prediction from bad data."""
import re

import pytest
import torch
from mmpretrain.structures import DataSample

import mmcaps  # noqa: F401
from mmcaps.models.heads import BaseCapsHead, DigitCapsHead, MatrixCapsHead


class FixedScores(BaseCapsHead):
    """Scores given by the test: the head's input is the score tensor."""

    def class_scores(self, feats):
        return self.pre_logits(feats)

    def loss(self, feats, data_samples, images=None):
        return dict(loss=self.class_scores(feats).sum())


def test_base_is_abstract_and_both_heads_derive_from_it():
    with pytest.raises(TypeError, match='class_scores'):
        BaseCapsHead(10)
    assert issubclass(DigitCapsHead, BaseCapsHead)
    assert issubclass(MatrixCapsHead, BaseCapsHead)
    head = FixedScores(4)
    assert head.num_classes == 4 and head.num_predictions == 1
    assert head.with_reconstruction is False
    # pre_logits: the last backbone/neck output.
    a, b = torch.zeros(1), torch.ones(1)
    assert head.pre_logits((a, b)) is b


def test_predict_reports_scores_without_softmax_and_top_k_labels():
    scores = torch.tensor([[0.1, 0.7, 0.3, 0.65], [0.9, 0.2, 0.95, 0.05],
                           [0.0, 0.0, 1.0, 0.5]])
    out = FixedScores(4).predict((scores, ))
    assert len(out) == 3
    for sample, score, label in zip(out, scores, [1, 2, 2]):
        assert isinstance(sample, DataSample)
        assert torch.equal(sample.pred_score, score)  # not a softmax
        assert sample.pred_label.tolist() == [label]
    top2 = FixedScores(4, num_predictions=2).predict((scores, ))
    assert [s.pred_label.tolist() for s in top2] == [[1, 3], [2, 0], [2, 3]]
    top4 = FixedScores(4, num_predictions=4).predict((scores[:1], ))
    assert top4[0].pred_label.tolist() == [1, 3, 2, 0]


def test_predict_fills_the_given_data_samples():
    scores = torch.tensor([[0.2, 0.8], [0.6, 0.4]])
    given = [DataSample().set_gt_label(1), None]
    out = FixedScores(2).predict((scores, ), given)
    assert out[0] is given[0]
    assert out[0].gt_label.tolist() == [1]
    assert out[0].pred_label.tolist() == [1]
    assert out[1].pred_label.tolist() == [0]


@pytest.mark.parametrize('bad', [float('nan'), float('inf'), -float('inf')])
def test_predict_refuses_scores_that_are_not_finite(bad):
    scores = torch.rand(4, 3)
    scores[1, 2] = bad
    scores[3, 0] = bad
    with pytest.raises(ValueError, match='^' + re.escape(
            'FixedScores: the class scores of sample(s) [1, 3] of the batch '
            'are not finite; check the input images for NaN or infinite '
            'pixels')):
        FixedScores(3).predict((scores, ))


def test_digitcaps_head_refuses_nan_images():
    # Through a real head: a NaN pixel's capsules score NaN.
    head = DigitCapsHead(3, 4, in_dim=2, out_dim=2)
    feats = torch.rand(2, 4, 2)
    feats[0, 1, 0] = float('nan')
    with pytest.raises(ValueError, match=re.escape(
            'DigitCapsHead: the class scores of sample(s) [0] of the batch '
            'are not finite')):
        head.predict((feats, ))


def test_targets_single_class_and_multi_hot():
    head = FixedScores(5)
    single = [DataSample().set_gt_label(i) for i in (3, 0, 4)]
    targets = head.targets(single, torch.device('cpu'))
    # One class each: (B,) class indices.
    assert targets.tolist() == [3, 0, 4]
    assert targets.dtype == torch.int64
    # Several classes in any sample: (B, K) multi-hot for all.
    mixed = [
        DataSample().set_gt_label([1, 3]),
        DataSample().set_gt_label(2),
        DataSample().set_gt_label([4, 4]),
    ]
    targets = head.targets(mixed, torch.device('cpu'))
    assert targets.dtype == torch.float32
    assert targets.tolist() == [[0, 1, 0, 1, 0], [0, 0, 1, 0, 0],
                                [0, 0, 0, 0, 1]]
    with pytest.raises(ValueError, match=r'label 5 is outside the class '
                       r'range \[0, 4\]'):
        head.targets([DataSample().set_gt_label([1, 5])], 'cpu')


@pytest.mark.parametrize('kwargs,message', [
    (dict(num_classes=1),
     'FixedScores: num_classes must be an integer >= 2, got 1'),
    (dict(num_classes=True),
     'FixedScores: num_classes must be an integer >= 2, got True'),
    (dict(num_classes=4, num_predictions=5),
     'FixedScores: num_predictions must be an integer in [1, 4], got 5'),
    (dict(num_classes=4, num_predictions=0),
     'FixedScores: num_predictions must be an integer in [1, 4], got 0'),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match='^' + re.escape(message) + '$'):
        FixedScores(**kwargs)
