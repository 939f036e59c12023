"""mmcaps: capsule networks for the OpenMMLab training stack.

Importing the package registers its modules in mmpretrain's registries and
its model zoo in mmpretrain's ``ModelHub`` (``mmpretrain.list_models``,
``get_model``, ``inference_model`` by name), and makes every mmengine
checkpoint load go through mmcaps' safe loader (``weights_only=True``).
"""
from . import datasets, engine, evaluation, models  # noqa: F401
from .apis import register_model_index
from .utils import register_checkpoint_loader
from .version import __version__

register_checkpoint_loader()
register_model_index()

__all__ = ['__version__']
