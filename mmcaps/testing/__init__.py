"""Reference implementations that tests and the benchmark compare the
fast modules against; not part of the model API."""
from .naive_capsule_layer import NaiveCapsuleLayer

__all__ = ['NaiveCapsuleLayer']
