"""Distributed runs of the OpenMMLab tools on machines without a GPU.

mmengine 0.10.7's ``pytorch`` launcher calls ``torch.cuda.set_device``
unconditionally, and its default model wrapper passes
``device_ids=[LOCAL_RANK]`` to ``DistributedDataParallel``, so
``torchrun ... --launcher pytorch`` fails on CPUs. The Runner skips its own
process-group set-up when one is already initialised, so starting a ``gloo``
group first and asking for a CPU-friendly DDP wrapper lets the same configs
train and test with DDP on CPUs, with no config edits.
"""
import datetime
import os

import torch.distributed as torch_dist
from mmengine.config import Config
from mmengine.device import get_device
from mmengine.dist import is_distributed
from mmpretrain.registry import MODEL_WRAPPERS
from torch.nn.parallel import DistributedDataParallel

__all__ = ['setup_cpu_distributed']


def setup_cpu_distributed(cfg: Config) -> bool:
    """Prepare a ``--launcher pytorch`` run on CPUs for ``Runner.from_cfg``.

    Does nothing unless ``cfg.launcher == 'pytorch'`` and no accelerator is
    available (on GPUs mmengine's own path, NCCL by default, is used).
    Otherwise it initialises the default process group with ``gloo`` from
    torchrun's environment (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``,
    ``MASTER_PORT``), honouring ``env_cfg.dist_cfg.timeout`` (seconds), and
    edits ``cfg`` in place:

    - ``env_cfg.dist_cfg.backend = 'gloo'``, so that the dumped config says
      what ran;
    - without a ``model_wrapper_cfg``: the wrapper mmengine would build,
      ``MMDistributedDataParallel`` with ``broadcast_buffers=False`` and the
      config's ``find_unused_parameters``, but with ``device_ids=None`` (DDP
      of a CPU module takes no device ids);
    - with a ``model_wrapper_cfg`` of a ``DistributedDataParallel`` type:
      ``device_ids=None`` unless it sets them.

    Args:
        cfg: The full config, with ``launcher`` set from the command line.

    Returns:
        Whether this function set up the CPU run.
    """
    if cfg.get('launcher', 'none') != 'pytorch' or get_device() != 'cpu':
        return False
    dist_cfg = dict(cfg.get('env_cfg', {}).get('dist_cfg', {}))
    if dist_cfg.pop('init_backend', 'torch') != 'torch':
        raise ValueError('CPU distributed runs support only '
                         "env_cfg.dist_cfg.init_backend='torch'")
    dist_cfg.pop('backend', None)
    if dist_cfg.get('timeout') is not None:
        dist_cfg['timeout'] = datetime.timedelta(seconds=dist_cfg['timeout'])
    if not is_distributed():
        torch_dist.init_process_group(
            backend='gloo',
            rank=int(os.environ['RANK']),
            world_size=int(os.environ['WORLD_SIZE']),
            **dist_cfg)

    cfg.merge_from_dict({'env_cfg.dist_cfg.backend': 'gloo'})
    wrapper = cfg.get('model_wrapper_cfg')
    if wrapper is None:
        cfg.model_wrapper_cfg = dict(
            type='MMDistributedDataParallel',
            device_ids=None,
            broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))
    else:
        wrapper_type = wrapper.get('type', 'MMDistributedDataParallel')
        if isinstance(wrapper_type, str):
            wrapper_type = MODEL_WRAPPERS.get(wrapper_type)
        if (isinstance(wrapper_type, type)
                and issubclass(wrapper_type, DistributedDataParallel)):
            wrapper.setdefault('device_ids', None)
    return True
