from .baseline_cnn import BaselineCNN
from .capsnet import CapsNet

__all__ = ['BaselineCNN', 'CapsNet']
