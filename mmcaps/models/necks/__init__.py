from .primary_caps_neck import PrimaryCapsNeck

__all__ = ['PrimaryCapsNeck']
