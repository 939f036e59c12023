"""A training run killed with SIGKILL and resumed with ``--resume`` ends with
the weights of an uninterrupted run.

The run is iteration-based on purpose: mmengine 0.10.7's
``EpochBasedTrainLoop`` restarts the epoch of a mid-epoch (iteration)
checkpoint from its first batch (see
tests/test_engine/test_hooks.py::test_mid_epoch_resume_of_an_epoch_loop_warns),
while ``IterBasedTrainLoop`` skips the batches already trained, crossing
data epochs with the sampler's per-epoch shuffling.
"""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import (REPO, checkpoint_weights, repo_env, run_in_repo,
                      write_tiny_config)
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


@pytest.fixture(scope='module')
def config(tiny_mnist_root, tmp_path_factory):
    return write_tiny_config(
        tmp_path_factory.mktemp('cfg') / 'resume_kill.py', tiny_mnist_root,
        RUN)


def env(**variables):
    # The tool imports this module for its hook.
    return repo_env(Path(__file__).parent, **variables)


def test_sigkill_then_resume_gives_the_uninterrupted_weights(
        config, tmp_path):
    reference = tmp_path / 'reference'
    run_in_repo(sys.executable, 'tools/train.py', config, '--work-dir',
                reference, env=env())

    work_dir = tmp_path / 'killed'
    proc = subprocess.Popen(
        [sys.executable, 'tools/train.py', str(config), '--work-dir',
         str(work_dir)],
        cwd=REPO, env=env(**{STALL_ENV: '5'}), stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (work_dir / 'stalled').exists():
            assert proc.poll() is None, 'the run ended before the kill'
            assert time.monotonic() < deadline, 'the run did not stall'
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    # Killed during iteration 5's hooks: iteration 5 is lost, iter_4.pth is
    # the last checkpoint.
    assert (work_dir / 'last_checkpoint').read_text() == str(
        work_dir / 'iter_4.pth')
    assert not (work_dir / 'iter_6.pth').exists()

    log = run_in_repo(sys.executable, 'tools/train.py', config, '--work-dir',
                      work_dir, '--resume', env=env())
    assert 'resumed epoch: 0, iter: 4' in log
    assert 'Advance dataloader 4 steps' in log
    resumed = torch.load(work_dir / 'iter_8.pth', weights_only=True)
    assert resumed['meta']['iter'] == 8
    expected = torch.load(reference / 'iter_8.pth', weights_only=True)
    for key, value in expected['state_dict'].items():
        torch.testing.assert_close(resumed['state_dict'][key], value,
                                   msg=key)
    assert resumed['param_schedulers'] == expected['param_schedulers']
    for key in ('exp_avg', 'exp_avg_sq'):
        torch.testing.assert_close(
            resumed['optimizer']['state'][0][key],
            expected['optimizer']['state'][0][key])
    assert checkpoint_weights(work_dir / 'iter_6.pth')
