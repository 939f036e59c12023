"""TwoDigitAccuracy against hand-made predictions."""
import pytest
import torch
from mmpretrain.registry import METRICS
from mmpretrain.structures import DataSample

import mmcaps  # noqa: F401


def evaluate(scores, labels):
    metric = METRICS.build(dict(type='TwoDigitAccuracy'))
    samples = [
        DataSample().set_gt_label(list(y)).set_pred_score(
            torch.tensor(s)).to_dict() for s, y in zip(scores, labels)
    ]
    metric.process(None, samples)
    return metric.evaluate(len(samples))


def test_capsule_lengths():
    scores = [
        [0.9, 0.8, 0.1, 0.0],  # top-2 {0, 1}: both right
        [0.9, 0.1, 0.2, 0.0],  # top-2 {0, 2}: one right
        [0.0, 0.1, 0.2, 0.3],  # top-2 {3, 2}: none right
        [0.2, 0.9, 0.1, 0.8],  # top-2 {1, 3}: both right, order free
    ]
    labels = [(0, 1), (0, 1), (0, 1), (3, 1)]
    res = evaluate(scores, labels)
    assert res['two_digit/accuracy'] == pytest.approx(50.0)
    assert res['two_digit/error'] == pytest.approx(50.0)
    assert res['two_digit/digit_accuracy'] == pytest.approx(100 * 5 / 8)


def test_sigmoid_scores_ignore_the_threshold():
    # A CNN's sigmoid scores, none above 0.5: the top-2 still counts.
    res = evaluate([[0.1, 0.4, 0.3, 0.2], [0.45, 0.2, 0.1, 0.44]],
                   [(1, 2), (0, 2)])
    assert res['two_digit/accuracy'] == pytest.approx(50.0)
    assert res['two_digit/digit_accuracy'] == pytest.approx(75.0)


def test_no_samples():
    metric = METRICS.build(dict(type='TwoDigitAccuracy'))
    with pytest.raises(ValueError, match='no samples'):
        metric.compute_metrics([])
