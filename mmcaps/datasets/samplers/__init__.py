from .lazy_sampler import LazySampler
from .resumable_sampler import ResumableSampler

__all__ = ['LazySampler', 'ResumableSampler']
