"""PlainCheckpointHook: checkpoints a Runner writes load without trust, and
resuming one restores the message hub's history exactly."""
import numpy as np
import pytest
from conftest import build_tiny_runner
from mmengine.hooks import Hook
from mmengine.logging.history_buffer import HistoryBuffer
from mmpretrain.registry import HOOKS

from mmcaps.utils import PLAIN_TYPE_KEY, load_checkpoint_file

ONE_ITER = '''
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=1)
val_cfg = None
val_dataloader = None
val_evaluator = None
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=1))
'''


@HOOKS.register_module()
class AddToCheckpointHook(Hook):
    """Puts a numpy array (``what='array'``) or a function into the
    checkpoint's meta before it is saved."""

    def __init__(self, what: str) -> None:
        self.value = np.arange(3) if what == 'array' else print

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint['meta']['added'] = self.value


def test_saved_plain_and_resumed_exactly(tiny_mnist_root, tmp_path):
    (tmp_path / 'run').mkdir()
    (tmp_path / 'resumed').mkdir()
    runner = build_tiny_runner(
        tmp_path / 'run', tiny_mnist_root, ONE_ITER +
        "custom_hooks = [dict(type='AddToCheckpointHook', what='array')]\n")
    runner.train()
    trained = runner.message_hub.log_scalars['train/loss'].data
    # The default allow-list only, whatever the process added.
    checkpoint = load_checkpoint_file(tmp_path / 'run' / 'iter_1.pth')
    entry = checkpoint['message_hub']['log_scalars']['train/loss']
    assert entry[PLAIN_TYPE_KEY] == 'mmengine.HistoryBuffer'
    assert entry['log_history'].tolist() == trained[0].tolist()
    assert type(checkpoint['message_hub']['runtime_info']['eta']) is float
    assert checkpoint['meta']['added'][PLAIN_TYPE_KEY] == 'numpy.ndarray'

    resumed = build_tiny_runner(
        tmp_path / 'resumed', tiny_mnist_root, ONE_ITER +
        f"resume = True\nload_from = '{tmp_path / 'run' / 'iter_1.pth'}'\n")
    resumed.resume(str(tmp_path / 'run' / 'iter_1.pth'))
    buffer = resumed.message_hub.log_scalars['train/loss']
    assert isinstance(buffer, HistoryBuffer)
    for restored, original in zip(buffer.data, trained):
        assert restored.dtype == original.dtype
        np.testing.assert_array_equal(restored, original)
    assert resumed.iter == 1


def test_entry_without_plain_form_stops_the_save(tiny_mnist_root, tmp_path):
    runner = build_tiny_runner(
        tmp_path, tiny_mnist_root, ONE_ITER +
        "custom_hooks = [dict(type='AddToCheckpointHook', "
        "what='function')]\n")
    with pytest.raises(TypeError,
                       match=r"checkpoint\['meta'\]\['added'\] is a "
                       r'builtins.builtin_function_or_method, which '
                       r'torch.load\(weights_only=True\) cannot load'):
        runner.train()
    assert not list(tmp_path.glob('*.pth'))
