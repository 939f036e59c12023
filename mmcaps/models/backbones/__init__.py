from .baseline_cnn import BaselineCNN
from .capsnet import CapsNet
from .efficient_capsnet import EfficientCapsNet
from .matrix_capsnet import MatrixCapsNet

__all__ = ['BaselineCNN', 'CapsNet', 'EfficientCapsNet', 'MatrixCapsNet']
