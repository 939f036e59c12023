"""Check the model's number of classes against the dataset's."""
from mmengine.dataset import BaseDataset
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner
from mmpretrain.engine.hooks import ClassNumCheckHook
from mmpretrain.registry import HOOKS

__all__ = ['NumClassesCheckHook']


@HOOKS.register_module()
class NumClassesCheckHook(ClassNumCheckHook):
    """Stop before training, validation or testing when a module's
    ``num_classes`` differs from the number of classes in the dataset's
    ``metainfo``, with a ``ValueError`` naming both.

    mmpretrain's ``ClassNumCheckHook`` (whose ``before_train``,
    ``before_val`` and ``before_test`` this reuses) checks with ``assert``,
    which ``python -O`` strips, and also fails on modules whose
    ``num_classes`` is ``None``, such as a ``ClsDataPreprocessor`` left
    without one, or 0, such as a timm trunk whose classifier
    ``TIMMBackbone`` removed. This check skips those; a dataset without
    ``classes`` in its metainfo is not checked.
    """

    def _check_head(self, runner: Runner, dataset: BaseDataset) -> None:
        classes = getattr(dataset, 'metainfo', {}).get('classes')
        if classes is None:
            return
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        for name, module in model.named_modules():
            num_classes = getattr(module, 'num_classes', None)
            # 0 is a trunk without a classifier (timm models inside
            # TIMMBackbone), not a class count.
            if (isinstance(num_classes, int) and num_classes != 0
                    and num_classes != len(classes)):
                raise ValueError(
                    f'{type(module).__name__} `{name or "model"}` has '
                    f'num_classes={num_classes}, but '
                    f'{type(dataset).__name__} has {len(classes)} classes '
                    'in its metainfo; make the two agree in the config')
