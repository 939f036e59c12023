"""setup_cpu_distributed: what it sets up, and when it keeps out of the way.

The real process group is exercised by the torchrun runs of
tests/test_tools/test_distributed.py; here ``init_process_group`` is
recorded instead, so that no process-wide state is left behind.
"""
import datetime

import pytest
from mmengine.config import Config

import mmcaps.utils.dist as dist_module
from mmcaps.utils import setup_cpu_distributed


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
                                             ('slurm', 'cpu'),
                                             ('pytorch', 'cuda')])
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
