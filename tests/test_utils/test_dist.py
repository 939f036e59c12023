"""setup_cpu_distributed: what it sets up, and when it keeps out of the way;
end_distributed_run: how a tool's distributed run ends.

The real process group is exercised by the torchrun runs of
tests/test_tools/test_distributed.py and the Slurm-style runs of
tests/test_tools/test_slurm_cpu.py; here ``init_process_group`` is
recorded instead, so that no process-wide state is left behind.
"""
import datetime
import os
import stat
import subprocess
import sys
import textwrap

import pytest
from conftest import free_port, repo_env
from mmengine.config import Config

import mmcaps.utils.dist as dist_module
from mmcaps.utils import end_distributed_run, setup_cpu_distributed


@pytest.fixture
def init_calls(monkeypatch):
    calls = []
    monkeypatch.setattr(dist_module.torch_dist, 'init_process_group',
                        lambda **kwargs: calls.append(kwargs))
    monkeypatch.setattr(dist_module, 'is_distributed', lambda: False)
    # As on a machine without a GPU, wherever the tests run.
    monkeypatch.setattr(dist_module, 'get_device', lambda: 'cpu')
    monkeypatch.setenv('RANK', '1')
    monkeypatch.setenv('WORLD_SIZE', '2')
    return calls


def make_cfg(**kwargs) -> Config:
    return Config(
        dict(launcher='pytorch',
             env_cfg=dict(dist_cfg=dict(backend='nccl')),
             **kwargs))


def test_cpu_pytorch_launcher_gets_gloo_and_cpu_ddp(init_calls):
    cfg = make_cfg()
    assert setup_cpu_distributed(cfg)
    assert init_calls == [dict(backend='gloo', rank=1, world_size=2)]
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'
    # mmengine's default wrapper, but without device ids (a CPU module).
    assert cfg.model_wrapper_cfg == dict(
        type='MMDistributedDataParallel', device_ids=None,
        broadcast_buffers=False, find_unused_parameters=False)


def test_timeout_and_find_unused_parameters_are_kept(init_calls):
    cfg = make_cfg(find_unused_parameters=True)
    cfg.env_cfg.dist_cfg.timeout = 90
    setup_cpu_distributed(cfg)
    assert init_calls[0]['timeout'] == datetime.timedelta(seconds=90)
    assert cfg.model_wrapper_cfg.find_unused_parameters


def test_existing_model_wrapper_cfg(init_calls):
    cfg = make_cfg(model_wrapper_cfg=dict(find_unused_parameters=True))
    setup_cpu_distributed(cfg)
    assert cfg.model_wrapper_cfg == dict(find_unused_parameters=True,
                                         device_ids=None)
    cfg = make_cfg(model_wrapper_cfg=dict(
        type='MMDistributedDataParallel', device_ids=[0]))
    setup_cpu_distributed(cfg)
    assert cfg.model_wrapper_cfg.device_ids == [0]
    # Not a DistributedDataParallel: left alone.
    fsdp = dict(type='MMFullyShardedDataParallel')
    cfg = make_cfg(model_wrapper_cfg=fsdp)
    setup_cpu_distributed(cfg)
    assert cfg.model_wrapper_cfg == fsdp


def test_no_dist_cfg_in_config(init_calls):
    cfg = Config(dict(launcher='pytorch'))
    setup_cpu_distributed(cfg)
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'


def test_existing_process_group_is_reused(init_calls, monkeypatch):
    monkeypatch.setattr(dist_module, 'is_distributed', lambda: True)
    cfg = make_cfg()
    assert setup_cpu_distributed(cfg)
    assert init_calls == []
    assert cfg.model_wrapper_cfg.device_ids is None


@pytest.mark.parametrize('launcher,device', [('none', 'cpu'),
                                             ('mpi', 'cpu'),
                                             ('pytorch', 'cuda'),
                                             ('slurm', 'cuda')])
def test_does_nothing_otherwise(init_calls, monkeypatch, launcher, device):
    # On GPUs mmengine's own path (NCCL) runs unchanged.
    monkeypatch.setattr(dist_module, 'get_device', lambda: device)
    cfg = make_cfg()
    cfg.launcher = launcher
    before = cfg.to_dict()
    assert not setup_cpu_distributed(cfg)
    assert init_calls == [] and cfg.to_dict() == before


def test_other_init_backends_are_refused(init_calls):
    cfg = make_cfg()
    cfg.env_cfg.dist_cfg.init_backend = 'deepspeed'
    with pytest.raises(ValueError, match="init_backend='torch'"):
        setup_cpu_distributed(cfg)


# --launcher slurm: srun's variables turned into torchrun's.

TORCH_VARIABLES = ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR',
                   'MASTER_PORT')


def write_fake_scontrol(bin_dir, hosts=('node3', 'node4'), fail=False):
    """An ``scontrol`` that records its arguments in ``bin_dir/args`` and
    prints ``hosts``, one per line, as ``scontrol show hostnames`` does,
    or fails as it does on a bad node list."""
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / 'scontrol'
    output = ('echo "scontrol: error: Invalid node name" >&2; exit 1'
              if fail else f"printf '%s\\n' {' '.join(hosts)}")
    script.write_text(f'#!/bin/sh\necho "$@" > "{bin_dir}/args"\n{output}\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return bin_dir


@pytest.fixture
def slurm_env(init_calls, monkeypatch, tmp_path):
    """srun's variables of task 1 of 2 on ``node[3-4]``, a fake scontrol
    first on PATH and none of torchrun's variables."""
    for name in TORCH_VARIABLES:
        # setenv first: monkeypatch restores (here: removes again) only the
        # variables it has set, and the code under test sets them all.
        monkeypatch.setenv(name, '')
        monkeypatch.delenv(name)
    monkeypatch.setenv('SLURM_PROCID', '1')
    monkeypatch.setenv('SLURM_NTASKS', '2')
    monkeypatch.setenv('SLURM_LOCALID', '0')
    monkeypatch.setenv('SLURM_NODELIST', 'node[3-4]')
    bin_dir = write_fake_scontrol(tmp_path / 'bin')
    monkeypatch.setenv('PATH', f'{bin_dir}{os.pathsep}{os.environ["PATH"]}')
    return bin_dir


def slurm_cfg(**dist_cfg) -> Config:
    cfg = make_cfg()
    cfg.launcher = 'slurm'
    cfg.env_cfg.dist_cfg.update(dist_cfg)
    return cfg


def test_slurm_launcher_gets_gloo_cpu_ddp_and_torch_env(
        slurm_env, init_calls):
    cfg = slurm_cfg(timeout=60)
    assert setup_cpu_distributed(cfg)
    assert init_calls == [
        dict(backend='gloo', rank=1, world_size=2,
             timeout=datetime.timedelta(seconds=60))
    ]
    assert (slurm_env / 'args').read_text() == 'show hostnames node[3-4]\n'
    assert {name: os.environ[name] for name in TORCH_VARIABLES} == dict(
        RANK='1', WORLD_SIZE='2', LOCAL_RANK='0', MASTER_ADDR='node3',
        MASTER_PORT='29500')
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'
    assert cfg.model_wrapper_cfg == dict(
        type='MMDistributedDataParallel', device_ids=None,
        broadcast_buffers=False, find_unused_parameters=False)


def test_slurm_master_from_environment_and_port_from_config(
        slurm_env, init_calls, monkeypatch):
    monkeypatch.setenv('MASTER_ADDR', '10.0.0.7')
    monkeypatch.setenv('MASTER_PORT', '12345')
    monkeypatch.delenv('SLURM_LOCALID')
    setup_cpu_distributed(slurm_cfg())
    # A MASTER_ADDR set by the user wins: scontrol is not asked.
    assert not (slurm_env / 'args').exists()
    assert os.environ['MASTER_ADDR'] == '10.0.0.7'
    assert os.environ['MASTER_PORT'] == '12345'
    assert os.environ['LOCAL_RANK'] == '0'
    # dist_cfg.port, as mmengine's slurm launcher takes it, beats the
    # environment and is not an init_process_group argument.
    setup_cpu_distributed(slurm_cfg(port=23456))
    assert os.environ['MASTER_PORT'] == '23456'
    assert init_calls[-1] == dict(backend='gloo', rank=1, world_size=2)


def test_slurm_without_scontrol_asks_for_master_addr(slurm_env, monkeypatch,
                                                     tmp_path):
    empty = tmp_path / 'empty'
    empty.mkdir()
    monkeypatch.setenv('PATH', str(empty))
    with pytest.raises(RuntimeError,
                       match=r"scontrol is not on PATH; set MASTER_ADDR"):
        setup_cpu_distributed(slurm_cfg())
    write_fake_scontrol(empty, fail=True)
    with pytest.raises(RuntimeError,
                       match=r"node\[3-4\]' failed \(scontrol: error: "
                       r'Invalid node name\); set MASTER_ADDR'):
        setup_cpu_distributed(slurm_cfg())


def test_slurm_variables_missing(slurm_env, monkeypatch, init_calls):
    monkeypatch.delenv('SLURM_NTASKS')
    monkeypatch.delenv('SLURM_NODELIST')
    with pytest.raises(ValueError,
                       match='srun sets them.*missing: SLURM_NTASKS, '
                       'SLURM_NODELIST'):
        setup_cpu_distributed(slurm_cfg())
    assert init_calls == []


def test_slurm_existing_process_group_is_reused(slurm_env, init_calls,
                                                monkeypatch):
    monkeypatch.setattr(dist_module, 'is_distributed', lambda: True)
    cfg = slurm_cfg()
    assert setup_cpu_distributed(cfg)
    assert init_calls == [] and 'RANK' not in os.environ
    assert cfg.model_wrapper_cfg.device_ids is None


@pytest.mark.parametrize('device', ['cpu', 'cuda'])
@pytest.mark.parametrize('variables,message', [
    ({'WORLD_SIZE': '2'},
     r'--launcher pytorch needs RANK and WORLD_SIZE, which torchrun sets; '
     r'missing: RANK\. Start the tool with tools/dist_train\.sh'),
    ({}, r'missing: RANK, WORLD_SIZE'),
    ({'RANK': 'one', 'WORLD_SIZE': '2'},
     r"RANK must be a non-negative integer, got 'one'"),
])
def test_pytorch_launcher_outside_torchrun(init_calls, monkeypatch, device,
                                           variables, message):
    """On any device (mmengine's own GPU set-up would die on a bare
    ``KeyError: 'RANK'``)."""
    monkeypatch.setattr(dist_module, 'get_device', lambda: device)
    monkeypatch.delenv('RANK')
    monkeypatch.delenv('WORLD_SIZE')
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=message):
        setup_cpu_distributed(make_cfg())
    assert init_calls == []


RANK_SCRIPT = textwrap.dedent("""
    import logging, sys
    import torch
    import torch.distributed as dist
    from mmcaps.utils import end_distributed_run
    dist.init_process_group('gloo')
    total = torch.ones(1)
    dist.all_reduce(total)
    logging.basicConfig(filename=sys.argv[1], level=logging.INFO)
    logging.info('logged %d', int(total))
    print('printed', int(total), end='')  # buffered: stdout is a pipe
    end_distributed_run()
    print('after end_distributed_run')
""")


def test_end_distributed_run_exits_each_rank_cleanly(tmp_path):
    """Each rank of a 2-process gloo run leaves through it with status 0,
    its buffered stdout and its log file flushed, and runs nothing after
    it."""
    script = tmp_path / 'rank.py'
    script.write_text(RANK_SCRIPT)
    env = repo_env(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(free_port()),
                   WORLD_SIZE='2')
    env.pop('PYTHONUNBUFFERED', None)
    procs = [subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / f'rank{rank}.log')],
        env=dict(env, RANK=str(rank)), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True) for rank in range(2)]
    for rank, proc in enumerate(procs):
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-2000:]
        assert out == 'printed 2', out
        assert 'INFO:root:logged 2' in (tmp_path /
                                        f'rank{rank}.log').read_text()


def test_end_distributed_run_returns_without_a_process_group():
    """A single-process run goes on (pytest itself would exit here)."""
    end_distributed_run()
