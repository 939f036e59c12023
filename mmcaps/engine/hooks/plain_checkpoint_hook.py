"""Checkpoints that load with ``torch.load(weights_only=True)`` and torch's
default allow-list."""
from mmengine.hooks import Hook
from mmengine.runner import Runner
from mmpretrain.registry import HOOKS

from mmcaps.utils.plain_checkpoint import from_plain, to_plain

__all__ = ['PlainCheckpointHook']


@HOOKS.register_module()
class PlainCheckpointHook(Hook):
    """Save checkpoints in the plain format and rebuild it on loading.

    Before the Runner writes a checkpoint, the message hub's
    ``HistoryBuffer``s, numpy arrays and numpy scalars in it are replaced
    by tensors and plain containers (:func:`mmcaps.utils.to_plain`), so
    that the file needs no trust to load; after the Runner loads one (for
    ``resume`` or ``load_from``, before the message hub reads it), they are
    rebuilt (:func:`mmcaps.utils.from_plain`), so a resumed run continues
    with the logged history of the uninterrupted one. Checkpoints of the
    older format (objects pickled as such) pass through unchanged.

    ``configs/_base_/default_runtime.py`` enables it among the default
    hooks. The lowest priority makes it the last hook to see a checkpoint
    before it is saved, so that what other hooks add is converted too.

    Raises:
        TypeError: On saving, an entry with no plain form; the message
            names where it is, e.g. ``checkpoint['meta']['x']``.
        mmcaps.utils.BadCheckpointError: On loading, a malformed plain
            entry.
    """

    priority = 'LOWEST'

    def before_save_checkpoint(self, runner: Runner,
                               checkpoint: dict) -> None:
        # The Runner saves this very dict: it is changed in place.
        for key, value in list(checkpoint.items()):
            checkpoint[key] = to_plain(value, f'checkpoint[{key!r}]')

    def after_load_checkpoint(self, runner: Runner, checkpoint: dict) -> None:
        for key, value in list(checkpoint.items()):
            checkpoint[key] = from_plain(value, f'checkpoint[{key!r}]')
