"""Public APIs: the mmcaps model zoo in mmpretrain's ``ModelHub``."""
from .model_zoo import (CHECKPOINT_ROOT, ZooModel, find_model_index,
                        list_models, register_model_index, sha256sum)

__all__ = [
    'CHECKPOINT_ROOT', 'ZooModel', 'find_model_index', 'list_models',
    'register_model_index', 'sha256sum'
]
