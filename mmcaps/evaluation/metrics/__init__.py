from .dump_predictions import DumpPredictions
from .multi_digit import TwoDigitAccuracy

__all__ = ['DumpPredictions', 'TwoDigitAccuracy']
