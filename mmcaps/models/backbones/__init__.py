from .baseline_cnn import BaselineCNN
from .capsnet import CapsNet
from .efficient_capsnet import EfficientCapsNet

__all__ = ['BaselineCNN', 'CapsNet', 'EfficientCapsNet']
