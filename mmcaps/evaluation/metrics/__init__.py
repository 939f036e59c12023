from .multi_digit import TwoDigitAccuracy

__all__ = ['TwoDigitAccuracy']
