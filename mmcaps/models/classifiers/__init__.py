from .capsnet_classifier import CapsNetClassifier

__all__ = ['CapsNetClassifier']
