from .base_caps_head import BaseCapsHead
from .digitcaps_head import DigitCapsHead
from .matrix_caps_head import MatrixCapsHead

__all__ = ['BaseCapsHead', 'DigitCapsHead', 'MatrixCapsHead']
