"""Training runs killed with SIGKILL and resumed with ``--resume`` end with
the weights, optimiser and scheduler states of uninterrupted runs.

Two runs: an iteration-based one without augmentation, and an epoch-based
one (``ResumableEpochBasedTrainLoop``) with random augmentation in the
dataloader workers (``RandomCrop``, persistent workers) and in the training
process (``RandomShiftDataPreprocessor``), validation after each epoch, and
resumed from a checkpoint saved in the middle of its second epoch. Each
reference run trains alongside the run that gets killed, to save time.
"""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import REPO, checkpoint_weights, repo_env, write_tiny_config
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS

STALL_ENV = 'MMCAPS_TEST_STALL_AFTER_ITER'


@HOOKS.register_module()
class StallHook(Hook):
    """After the iteration named by the environment variable
    ``MMCAPS_TEST_STALL_AFTER_ITER`` (if set), touch ``stalled`` in the
    work dir and sleep until killed, so that the kill surely lands in the
    middle of the run."""

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        if str(runner.iter + 1) != os.environ.get(STALL_ENV):
            return
        Path(runner.work_dir, 'stalled').touch()
        while True:
            time.sleep(1)


# 48 images, 8 a batch, shuffled: 6 iterations a data epoch, so a run of 8
# crosses into a second, differently shuffled epoch. A checkpoint every 2
# iterations; the LR steps every 3, so the scheduler state matters too.
RUN = '''
custom_imports = dict(imports=['mmcaps', 'test_resume_kill'],
                      allow_failed_imports=False)
train_dataloader = dict(batch_size=8, sampler=dict(shuffle=True))
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=8)
val_cfg = None
val_dataloader = None
val_evaluator = None
param_scheduler = dict(step_size=3)
default_hooks = dict(
    checkpoint=dict(by_epoch=False, interval=2),
    stall=dict(type='StallHook'))
'''

# 2 epochs of 6 batches of 8, validated after each; checkpoints at
# iterations 4, 8 (2 batches into epoch 2) and 12.
EPOCH_RUN = '''
custom_imports = dict(imports=['mmcaps', 'test_resume_kill'],
                      allow_failed_imports=False)
data_preprocessor = dict(type='RandomShiftDataPreprocessor', random_shift=1)
train_dataloader = dict(
    batch_size=8, num_workers=2, persistent_workers=True,
    dataset=dict(pipeline=[
        dict(type='RandomCrop', crop_size=28, padding=2),
        dict(type='PackInputs')]))
train_cfg = dict(_delete_=True, type='ResumableEpochBasedTrainLoop',
                 max_epochs=2)
param_scheduler = dict(step_size=3)
default_hooks = dict(
    checkpoint=dict(by_epoch=False, interval=4),
    stall=dict(type='StallHook'))
'''


@pytest.fixture(scope='module')
def config(tiny_mnist_root, tmp_path_factory):
    return write_tiny_config(
        tmp_path_factory.mktemp('cfg') / 'resume_kill.py', tiny_mnist_root,
        RUN)


@pytest.fixture(scope='module')
def epoch_config(tiny_mnist_root, tmp_path_factory):
    return write_tiny_config(
        tmp_path_factory.mktemp('cfg') / 'resume_kill_epoch.py',
        tiny_mnist_root, EPOCH_RUN)


def env(**variables):
    # The tool imports this module for its hook.
    return repo_env(Path(__file__).parent, **variables)


def start_training(config: Path, work_dir: Path, *args,
                   stall_after: int = None) -> subprocess.Popen:
    """Start tools/train.py, its output going to ``work_dir``.log."""
    variables = {} if stall_after is None else {STALL_ENV: str(stall_after)}
    with open(f'{work_dir}.log', 'w') as log:
        return subprocess.Popen(
            [sys.executable, 'tools/train.py', str(config), '--work-dir',
             str(work_dir), *map(str, args)],
            cwd=REPO, env=env(**variables), stdout=log,
            stderr=subprocess.STDOUT)


def finish(proc: subprocess.Popen, work_dir: Path) -> str:
    """Wait for a run started with :func:`start_training` to succeed;
    return its output."""
    proc.wait(timeout=300)
    log = Path(f'{work_dir}.log').read_text()
    assert proc.returncode == 0, log[-5000:]
    return log


def kill_when_stalled(proc: subprocess.Popen, work_dir: Path) -> None:
    try:
        deadline = time.monotonic() + 120
        while not (work_dir / 'stalled').exists():
            assert proc.poll() is None, Path(f'{work_dir}.log').read_text()
            assert time.monotonic() < deadline, 'the run did not stall'
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL


def assert_same_state(resumed: dict, expected: dict) -> None:
    for key, value in expected['state_dict'].items():
        assert torch.equal(resumed['state_dict'][key], value), key
    assert resumed['param_schedulers'] == expected['param_schedulers']
    for key in ('exp_avg', 'exp_avg_sq'):
        assert torch.equal(resumed['optimizer']['state'][0][key],
                           expected['optimizer']['state'][0][key])


def test_sigkill_then_resume_gives_the_uninterrupted_weights(
        config, tmp_path):
    reference = start_training(config, tmp_path / 'reference')
    work_dir = tmp_path / 'killed'
    kill_when_stalled(start_training(config, work_dir, stall_after=5),
                      work_dir)
    # Killed during iteration 5's hooks: iteration 5 is lost, iter_4.pth is
    # the last checkpoint.
    assert (work_dir / 'last_checkpoint').read_text() == str(
        work_dir / 'iter_4.pth')
    assert not (work_dir / 'iter_6.pth').exists()

    log = finish(start_training(config, work_dir, '--resume'), work_dir)
    assert 'resumed epoch: 0, iter: 4' in log
    assert 'Advance dataloader 4 steps' in log
    resumed = torch.load(work_dir / 'iter_8.pth', weights_only=True)
    assert resumed['meta']['iter'] == 8
    finish(reference, tmp_path / 'reference')
    assert_same_state(resumed, torch.load(
        tmp_path / 'reference' / 'iter_8.pth', weights_only=True))
    assert checkpoint_weights(work_dir / 'iter_6.pth')


def test_epoch_run_with_augmentation_resumes_mid_epoch_exactly(
        epoch_config, tmp_path):
    reference = start_training(epoch_config, tmp_path / 'reference')
    work_dir = tmp_path / 'killed'
    kill_when_stalled(
        start_training(epoch_config, work_dir, stall_after=9), work_dir)
    assert (work_dir / 'last_checkpoint').read_text() == str(
        work_dir / 'iter_8.pth')

    log = finish(start_training(epoch_config, work_dir, '--resume'),
                 work_dir)
    assert 'resumed epoch: 1, iter: 8' in log
    assert ('Resumed 2 batches into epoch 2: skipping their 16 samples'
            in log)
    assert 'restarts the epoch' not in log
    assert 'Epoch(train) [2][3/6]' in log
    assert 'Epoch(train) [2][1/6]' not in log
    resumed = torch.load(work_dir / 'iter_12.pth', weights_only=True)
    assert resumed['meta']['iter'] == 12
    finish(reference, tmp_path / 'reference')
    expected = torch.load(tmp_path / 'reference' / 'iter_12.pth',
                          weights_only=True)
    assert_same_state(resumed, expected)
    # The weights moved away from those of the checkpoint resumed from.
    before = checkpoint_weights(work_dir / 'iter_8.pth')
    assert any(not torch.equal(value, before[key])
               for key, value in expected['state_dict'].items())
