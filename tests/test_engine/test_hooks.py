"""mmcaps.engine: atomic checkpoints, the NaN stop, the class-number check
and bfloat16 autocast, on tiny Runners built in-process."""
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn
from conftest import build_tiny_runner, checkpoint_weights
from mmengine.fileio import LocalBackend

import mmcaps.engine.hooks.finite_loss_hook as finite_loss_module
from mmcaps.engine import (AutocastOptimWrapper, FiniteLossHook,
                           NumClassesCheckHook, atomic_path)
from mmcaps.models.losses import MarginLoss

# 48 images, 8 a batch: 6 iterations are one pass over the data.
ITER_RUN = '''
train_dataloader = dict(batch_size=8)
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=6)
val_cfg = None
val_dataloader = None
val_evaluator = None
param_scheduler = dict(step_size=3)
'''
# Only one checkpoint kept: the hardest case for a crash while saving.
EVERY_2_KEEP_1 = 'by_epoch=False, interval=2, max_keep_ckpts=1'


def iter_run(checkpoint: str, extra: str = '') -> str:
    """The config of a 6-iteration run with the checkpoint options
    ``checkpoint``."""
    return (f'{ITER_RUN}default_hooks = dict(checkpoint=dict({checkpoint}))'
            f'\n{extra}')


def test_atomic_path_keeps_old_content_on_error(tmp_path):
    path = tmp_path / 'last_checkpoint'
    path.write_text('old')
    with pytest.raises(OSError):
        with atomic_path(str(path)) as tmp:
            with open(tmp, 'w') as f:
                f.write('ne')
            raise OSError('crash halfway (simulated)')
    assert path.read_text() == 'old'
    assert list(tmp_path.iterdir()) == [path]
    with atomic_path(str(path)) as tmp:
        with open(tmp, 'w') as f:
            f.write('new')
    assert path.read_text() == 'new'
    assert list(tmp_path.iterdir()) == [path]


def crash_writing_iter_4(monkeypatch):
    """Make the write of iteration 4's checkpoint die halfway through."""
    put = LocalBackend.put

    def half_put(self, obj, filepath):
        if 'iter_4' in str(filepath):
            with open(filepath, 'wb') as f:
                f.write(obj[:len(obj) // 2])
            raise OSError('No space left on device (simulated)')
        put(self, obj, filepath)

    monkeypatch.setattr(LocalBackend, 'put', half_put)


@pytest.fixture(scope='module')
def uninterrupted(tiny_mnist_root, tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('uninterrupted')
    build_tiny_runner(work_dir, tiny_mnist_root,
                      iter_run(EVERY_2_KEEP_1)).train()
    return work_dir


def test_crash_while_saving_keeps_a_resumable_checkpoint(
        tiny_mnist_root, uninterrupted, tmp_path, monkeypatch):
    crash_writing_iter_4(monkeypatch)
    with pytest.raises(OSError, match='simulated'):
        build_tiny_runner(tmp_path, tiny_mnist_root,
                          iter_run(EVERY_2_KEEP_1)).train()
    monkeypatch.undo()
    # With max_keep_ckpts=1, iter_2.pth is deleted only once iter_4.pth is
    # complete; the half-written file never takes a checkpoint's name.
    assert (tmp_path / 'last_checkpoint').read_text() == str(
        tmp_path / 'iter_2.pth')
    assert checkpoint_weights(tmp_path / 'iter_2.pth')
    assert not (tmp_path / 'iter_4.pth').exists()
    assert not (tmp_path / 'iter_4.pth.tmp').exists()

    runner = build_tiny_runner(
        tmp_path, tiny_mnist_root, iter_run(EVERY_2_KEEP_1, 'resume = True'))
    runner.train()
    assert runner.iter == 6
    expected = checkpoint_weights(uninterrupted / 'iter_6.pth')
    for key, value in checkpoint_weights(tmp_path / 'iter_6.pth').items():
        torch.testing.assert_close(value, expected[key], msg=key)
    assert not (tmp_path / 'iter_2.pth').exists()


def test_mmengine_checkpoint_hook_loses_the_run_in_the_same_crash(
        tiny_mnist_root, tmp_path, monkeypatch):
    # Why the default runtime does not use CheckpointHook.
    crash_writing_iter_4(monkeypatch)
    with pytest.raises(OSError, match='simulated'):
        build_tiny_runner(
            tmp_path, tiny_mnist_root,
            iter_run(f"type='CheckpointHook', {EVERY_2_KEEP_1}")).train()
    assert (tmp_path / 'last_checkpoint').read_text() == str(
        tmp_path / 'iter_2.pth')
    assert not (tmp_path / 'iter_2.pth').exists()
    with pytest.raises(Exception):
        checkpoint_weights(tmp_path / 'iter_4.pth')


def test_mid_epoch_resume_of_an_epoch_loop_warns(tiny_mnist_root, tmp_path):
    # mmengine 0.10.7's EpochBasedTrainLoop (not mmcaps' default loop)
    # restarts the epoch of an iteration checkpoint from its first batch: 3
    # batches an epoch, resumed after 2 of them, the run ends at 2 + 3.
    epoch_run = '''
train_cfg = dict(_delete_=True, by_epoch=True, max_epochs=1)
val_cfg = None
val_dataloader = None
val_evaluator = None
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=2))
'''
    first = tmp_path / 'first'
    first.mkdir()
    build_tiny_runner(first, tiny_mnist_root, epoch_run).train()
    resumed = tmp_path / 'resumed'
    resumed.mkdir()
    runner = build_tiny_runner(
        resumed, tiny_mnist_root,
        epoch_run + f"resume = True\nload_from = '{first / 'iter_2.pth'}'\n")
    runner.train()
    assert runner.iter == 5
    log = (resumed / runner.timestamp / f'{runner.timestamp}.log').read_text()
    assert ('Resumed at iteration 2, 2 batches into epoch 1: '
            'EpochBasedTrainLoop restarts the epoch') in log


def test_nan_loss_stops_before_it_is_checkpointed(tiny_mnist_root, tmp_path,
                                                  monkeypatch):
    calls = []
    forward = MarginLoss.forward

    def nan_at_third_iteration(self, lengths, target):
        calls.append(1)
        loss = forward(self, lengths, target)
        return loss * float('nan') if len(calls) == 3 else loss

    monkeypatch.setattr(MarginLoss, 'forward', nan_at_third_iteration)
    runner = build_tiny_runner(tmp_path, tiny_mnist_root,
                               iter_run('by_epoch=False, interval=1'))
    with pytest.raises(
            FloatingPointError,
            match=r'Non-finite loss at iteration 3 \(epoch 1\): loss=nan, '
            r'loss_margin=nan, loss_recon=0\.\d+'):
        runner.train()
    # The optimiser had stepped: the weights in memory are spoilt, the last
    # checkpoint is not.
    assert not all(p.isfinite().all() for p in runner.model.parameters())
    assert sorted(p.name for p in tmp_path.glob('iter_*')) == [
        'iter_1.pth', 'iter_2.pth'
    ]
    assert (tmp_path / 'last_checkpoint').read_text() == str(
        tmp_path / 'iter_2.pth')
    for value in checkpoint_weights(tmp_path / 'iter_2.pth').values():
        assert value.isfinite().all()


def test_finite_loss_hook_stops_all_ranks_together(monkeypatch):
    runner = SimpleNamespace(iter=6, epoch=0, rank=0)
    hook = FiniteLossHook()
    monkeypatch.setattr(finite_loss_module, 'get_dist_info', lambda: (0, 2))
    finite = dict(loss=torch.tensor(0.5), acc=torch.tensor(float('nan')))
    # Only loss terms count; all ranks finite: go on.
    monkeypatch.setattr(finite_loss_module, 'all_reduce', lambda t: t)
    hook.after_train_iter(runner, 0, outputs=finite)
    # Another rank reported a non-finite loss.
    monkeypatch.setattr(finite_loss_module, 'all_reduce',
                        lambda t: t.add_(1))
    with pytest.raises(FloatingPointError,
                       match=r'iteration 7 \(epoch 1\) on another rank'):
        hook.after_train_iter(runner, 0, outputs=finite)
    with pytest.raises(FloatingPointError, match='on rank 0: loss=inf'):
        hook.after_train_iter(runner, 0,
                              outputs=dict(loss=torch.tensor(float('inf'))))


def test_num_classes_check_hook():
    hook = NumClassesCheckHook()
    model = nn.Module()
    model.head = nn.Identity()
    model.head.num_classes = 3
    model.data_preprocessor = nn.Identity()
    model.data_preprocessor.num_classes = None  # not set: not checked
    # A timm trunk without its classifier (TIMMBackbone(features_only=False)).
    model.trunk = nn.Identity()
    model.trunk.num_classes = 0
    runner = SimpleNamespace(model=model)
    hook._check_head(runner, SimpleNamespace(metainfo={'classes': 'abc'}))
    hook._check_head(runner, SimpleNamespace(metainfo={}))
    model.head.num_classes = 4
    with pytest.raises(ValueError,
                       match=r'Identity `head` has num_classes=4, but '
                       r'SimpleNamespace has 3 classes'):
        hook._check_head(runner,
                         SimpleNamespace(metainfo={'classes': 'abc'}))


def test_autocast_optim_wrapper_runs_forward_in_bfloat16():
    model = nn.Linear(4, 2)
    before = model.weight.detach().clone()
    wrapper = AutocastOptimWrapper(
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    with wrapper.optim_context(model):
        out = model(torch.randn(3, 4))
    assert out.dtype == torch.bfloat16
    wrapper.update_params(out.float().pow(2).sum())
    assert model.weight.dtype == torch.float32
    assert not torch.equal(model.weight, before)
    with pytest.raises(TypeError, match='dtype'):
        AutocastOptimWrapper(optimizer=wrapper.optimizer, dtype='half16')
