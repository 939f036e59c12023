"""Accuracy of images that hold several digits (MultiMNIST)."""
from typing import Dict, List, Sequence

import torch
from mmengine.evaluator import BaseMetric
from mmpretrain.registry import METRICS

__all__ = ['TwoDigitAccuracy']


@METRICS.register_module()
class TwoDigitAccuracy(BaseMetric):
    """The paper's MultiMNIST accuracy: the ``P`` highest scores (``P`` =
    the number of true digits, 2 for MultiMNIST) must be exactly the ``P``
    true classes.

    Uses ``pred_score`` only, so it serves capsule lengths and a CNN's
    sigmoid scores alike (a thresholded ``pred_label`` is ignored).

    Results (percentages): ``accuracy`` (a sample is right only when all
    its digits are), ``error`` (``100 - accuracy``, the paper's number) and
    ``digit_accuracy`` (the fraction of true digits among the predictions).

    Args:
        collect_device: ``'cpu'`` or ``'gpu'``, for distributed collection.
        prefix: Prefix of the result keys; defaults to ``'two_digit'``.
    """

    default_prefix = 'two_digit'

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Keep, per sample, how many of its digits are among its top
        scores and how many digits it has."""
        for sample in data_samples:
            gt = torch.as_tensor(sample['gt_label']).flatten().cpu()
            score = torch.as_tensor(sample['pred_score']).flatten().cpu()
            top = score.topk(gt.numel()).indices
            hits = int(torch.isin(gt, top).sum())
            self.results.append((hits, gt.numel()))

    def compute_metrics(self, results: List[tuple]) -> Dict[str, float]:
        if not results:
            raise ValueError('TwoDigitAccuracy got no samples to evaluate')
        hits = torch.tensor([h for h, _ in results], dtype=torch.float64)
        digits = torch.tensor([n for _, n in results], dtype=torch.float64)
        accuracy = 100.0 * (hits == digits).double().mean().item()
        return dict(
            accuracy=accuracy,
            error=100.0 - accuracy,
            digit_accuracy=100.0 * (hits.sum() / digits.sum()).item())
