"""Evaluation metrics registered in mmpretrain's METRICS."""
from .metrics import TwoDigitAccuracy

__all__ = ['TwoDigitAccuracy']
