"""mmcaps: capsule networks for the OpenMMLab training stack.

Importing the package registers its modules in mmpretrain's registries and
allows mmengine checkpoints to load under ``torch.load(weights_only=True)``.
"""
from . import datasets, engine, evaluation, models  # noqa: F401
from .utils import register_checkpoint_safe_globals
from .version import __version__

register_checkpoint_safe_globals()

__all__ = ['__version__']
