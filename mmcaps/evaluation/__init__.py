"""Evaluation metrics registered in mmpretrain's METRICS."""
from .metrics import DumpPredictions, TwoDigitAccuracy

__all__ = ['DumpPredictions', 'TwoDigitAccuracy']
