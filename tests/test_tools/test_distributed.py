"""DDP on CPUs through tools/dist_train.sh and tools/dist_test.sh (torchrun,
2 processes, gloo) against single-process runs of the same configs.

The hook below is imported by the tool processes (``custom_imports``) to
record every rank's weights.
"""
import pickle
import re
import sys
from pathlib import Path

import pytest
import torch
from conftest import (checkpoint_weights, free_port, repo_env, run_in_repo,
                      write_tiny_config, write_tiny_mnist)
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS


@HOOKS.register_module()
class RankWeightsDumpHook(Hook):
    """Save each rank's model weights before and after training to
    ``{out_dir}/{before,after}_rank{rank}.pth``."""

    def __init__(self, out_dir: str) -> None:
        self.out_dir = out_dir

    def _dump(self, runner, when: str) -> None:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        torch.save(model.state_dict(),
                   f'{self.out_dir}/{when}_rank{runner.rank}.pth')

    def before_train(self, runner) -> None:
        self._dump(runner, 'before')

    def after_train(self, runner) -> None:
        self._dump(runner, 'after')


# 2 processes x 8 images against 1 x 16, in file order: with shuffle=False
# DefaultSampler gives rank r the indices r, r + 2, ..., so DDP step k sees
# rank 0's {16k, 16k + 2, ..., 16k + 14} and rank 1's {16k + 1, ...,
# 16k + 15}: the same 16 images as the single process's batch k. The
# average of the two ranks' gradients of their 8-image mean losses is the
# gradient of the 16-image mean loss, so the weights agree up to float
# rounding.
DDP_RUN = '''
custom_imports = dict(imports=['mmcaps', 'test_distributed'],
                      allow_failed_imports=False)
train_dataloader = dict(batch_size={batch_size}, sampler=dict(shuffle=False))
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=3)
val_cfg = None
val_dataloader = None
val_evaluator = None
param_scheduler = dict(step_size=2)
# default_hooks merges into the default runtime's, custom_hooks would not.
default_hooks = dict(
    checkpoint=dict(by_epoch=False, interval=3),
    rank_weights=dict(type='RankWeightsDumpHook', out_dir='{out_dir}'))
'''


def tool_env(**variables):
    # The tools import this module for its hook.
    return repo_env(Path(__file__).parent, **variables)


def dist_env():
    return tool_env(PORT=str(free_port()), PYTHON=sys.executable)


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    # 21 test images: not divisible by 2 processes.
    return write_tiny_mnist(tmp_path_factory.mktemp('mnist21'), num_train=48,
                            num_test=21)


def train(tmp_path_factory, data_root, name, batch_size, processes):
    work_dir = tmp_path_factory.mktemp(name)
    config = write_tiny_config(
        work_dir / f'{name}.py', data_root,
        DDP_RUN.format(out_dir=work_dir, batch_size=batch_size))
    if processes == 1:
        log = run_in_repo(sys.executable, 'tools/train.py', config,
                          '--work-dir', work_dir, env=tool_env())
    else:
        log = run_in_repo('bash', 'tools/dist_train.sh', config, processes,
                          '--work-dir', work_dir, env=dist_env())
    return work_dir, config, log


@pytest.fixture(scope='module')
def ddp(tmp_path_factory, data_root):
    return train(tmp_path_factory, data_root, 'ddp', 8, 2)


@pytest.fixture(scope='module')
def single(tmp_path_factory, data_root):
    return train(tmp_path_factory, data_root, 'single', 16, 1)


def test_ddp_runs_with_gloo_and_cpu_wrapper(ddp):
    work_dir, _, log = ddp
    assert 'Distributed training: True' in log
    assert "dist_cfg=dict(backend='gloo')" in log
    assert 'device_ids=None' in log
    assert checkpoint_weights(work_dir / 'iter_3.pth')


def test_ddp_ranks_hold_identical_weights(ddp):
    work_dir = ddp[0]
    for when in ('before', 'after'):
        rank0 = torch.load(work_dir / f'{when}_rank0.pth', weights_only=True)
        rank1 = torch.load(work_dir / f'{when}_rank1.pth', weights_only=True)
        for key, value in rank0.items():
            assert torch.equal(value, rank1[key]), (when, key)


def test_ddp_2x8_equals_single_process_1x16(ddp, single):
    ddp_dir, single_dir = ddp[0], single[0]
    before = torch.load(ddp_dir / 'before_rank0.pth', weights_only=True)
    single_before = torch.load(single_dir / 'before_rank0.pth',
                               weights_only=True)
    after = checkpoint_weights(ddp_dir / 'iter_3.pth')
    expected = checkpoint_weights(single_dir / 'iter_3.pth')
    for key, value in after.items():
        assert torch.equal(before[key], single_before[key]), key
        torch.testing.assert_close(value, expected[key], msg=key)
        # Three Adam steps of lr 1e-3 moved every weight by far more than
        # the tolerance, so agreeing says something.
        assert (value - before[key]).abs().max() > 1e-4, key


def run_test_tool(ddp, tmp_path, processes):
    work_dir, config, _ = ddp
    out = tmp_path / f'preds_{processes}.pkl'
    args = [config, work_dir / 'iter_3.pth', '--work-dir', tmp_path, '--out',
            out]
    if processes == 1:
        log = run_in_repo(sys.executable, 'tools/test.py', *args,
                          env=tool_env())
    else:
        log = run_in_repo('bash', 'tools/dist_test.sh', args[0], args[1],
                          processes, *args[2:], env=dist_env())
    accuracy = re.search(r'Epoch\(test\).*accuracy/top1: ([\d.]+)', log)
    with open(out, 'rb') as f:
        return accuracy.group(1), pickle.load(f)


def test_distributed_test_matches_single_process(ddp, tmp_path):
    # 21 images over 2 processes: DefaultSampler pads rank 1 with a copy of
    # image 0, which collect_results drops again.
    accuracy, preds = run_test_tool(ddp, tmp_path, 1)
    dist_accuracy, dist_preds = run_test_tool(ddp, tmp_path, 2)
    assert dist_accuracy == accuracy
    assert len(preds) == len(dist_preds) == 21
    assert [p['gt_label'].item() for p in dist_preds] == [
        i % 10 for i in range(21)
    ]
    for pred, dist_pred in zip(preds, dist_preds):
        assert dist_pred['pred_label'] == pred['pred_label']
        torch.testing.assert_close(dist_pred['pred_score'],
                                   pred['pred_score'])
