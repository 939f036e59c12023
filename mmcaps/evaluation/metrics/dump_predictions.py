"""Dump a test run's predictions to a pickle or JSON file."""
from typing import Any, List, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.fileio import dump
from mmengine.logging import print_log
from mmpretrain.registry import METRICS

__all__ = ['DumpPredictions', 'to_builtin']

FORMATS = ('.pkl', '.pickle', '.json')


def to_builtin(value: Any) -> Any:
    """``value`` with every tensor, array and NumPy scalar turned into
    Python lists and numbers, recursively, for JSON."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().tolist()
    if isinstance(value, (np.ndarray, np.generic)):
        return value.tolist()
    if isinstance(value, dict):
        return {k: to_builtin(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_builtin(v) for v in value]
    return value


@METRICS.register_module()
class DumpPredictions(BaseMetric):
    """Write one dict per test sample (``pred_score``, ``pred_label``,
    ``gt_label``, ``sample_idx``, ...) to ``out_file_path``, gathered from
    every rank, in dataset order. A ``.pkl``/``.pickle`` file keeps the
    tensors, as mmengine's ``DumpResults``; a ``.json`` file holds lists
    and numbers. Computes no metric.

    Args:
        out_file_path: The file, ending in ``.pkl``, ``.pickle`` or
            ``.json``.
        collect_device: ``'cpu'`` or ``'gpu'``, where ranks gather.
    """

    def __init__(self, out_file_path: str,
                 collect_device: str = 'cpu') -> None:
        super().__init__(collect_device=collect_device)
        if not str(out_file_path).endswith(FORMATS):
            raise ValueError('DumpPredictions: out_file_path must end in '
                             f'{", ".join(FORMATS)}, got {out_file_path}')
        self.out_file_path = str(out_file_path)

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            sample = {
                k: v.detach().cpu() if isinstance(v, torch.Tensor) else v
                for k, v in sample.items()
            }
            self.results.append(sample)

    def compute_metrics(self, results: List[dict]) -> dict:
        if self.out_file_path.endswith('.json'):
            results = to_builtin(results)
        dump(results, self.out_file_path)
        print_log(f'Predictions written to {self.out_file_path}',
                  logger='current')
        return {}
