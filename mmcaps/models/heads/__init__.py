from .digitcaps_head import DigitCapsHead

__all__ = ['DigitCapsHead']
