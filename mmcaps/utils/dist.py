"""Distributed runs of the OpenMMLab tools on machines without a GPU.

mmengine 0.10.7's ``pytorch`` and ``slurm`` launchers call
``torch.cuda.set_device`` unconditionally, and its default model wrapper
passes ``device_ids=[LOCAL_RANK]`` to ``DistributedDataParallel``, so
``torchrun ... --launcher pytorch`` and ``srun ... --launcher slurm`` fail
on CPUs. The Runner skips its own process-group set-up when one is already
initialised, so starting a ``gloo`` group first and asking for a
CPU-friendly DDP wrapper lets the same configs train and test with DDP on
CPUs, with no config edits.
"""
import datetime
import logging
import os
import shutil
import subprocess
import sys
from typing import Optional

import torch.distributed as torch_dist
from mmengine.config import Config
from mmengine.device import get_device
from mmengine.dist import is_distributed
from mmpretrain.registry import MODEL_WRAPPERS
from torch.nn.parallel import DistributedDataParallel

__all__ = [
    'setup_cpu_distributed', 'set_slurm_dist_env', 'check_torchrun_env',
    'end_distributed_run'
]

SLURM_VARIABLES = ('SLURM_PROCID', 'SLURM_NTASKS', 'SLURM_NODELIST')
TORCHRUN_VARIABLES = ('RANK', 'WORLD_SIZE')


def check_torchrun_env() -> None:
    """Check that torchrun's ``RANK`` and ``WORLD_SIZE`` are set, to
    integers, as ``--launcher pytorch`` needs.

    Raises:
        ValueError: One is missing (the tool was not started by torchrun)
            or not an integer; the message names it.
    """
    missing = [name for name in TORCHRUN_VARIABLES if name not in os.environ]
    if missing:
        raise ValueError(
            f'--launcher pytorch needs {" and ".join(TORCHRUN_VARIABLES)}, '
            f'which torchrun sets; missing: {", ".join(missing)}. Start the '
            'tool with tools/dist_train.sh, tools/dist_test.sh or torchrun, '
            'or leave out --launcher for a single process.')
    for name in TORCHRUN_VARIABLES:
        if not os.environ[name].strip().isdigit():
            raise ValueError(f'--launcher pytorch: {name} must be a '
                             f'non-negative integer, got {os.environ[name]!r}')


def _first_slurm_host(node_list: str) -> str:
    """The first host name of a Slurm node list such as ``node[1-4]``."""
    scontrol = shutil.which('scontrol')
    if scontrol is None:
        raise RuntimeError(
            f'--launcher slurm cannot resolve SLURM_NODELIST={node_list!r}: '
            'scontrol is not on PATH; set MASTER_ADDR to the host name or '
            'address of the first node')
    result = subprocess.run([scontrol, 'show', 'hostnames', node_list],
                            capture_output=True, text=True)
    hosts = result.stdout.split()
    if result.returncode != 0 or not hosts:
        raise RuntimeError(
            f"'scontrol show hostnames {node_list}' failed "
            f'({result.stderr.strip() or "no host names"}); set MASTER_ADDR '
            'to the host name or address of the first node')
    return hosts[0]


def set_slurm_dist_env(port: Optional[int] = None) -> None:
    """Derive the ``torch.distributed`` environment from ``srun``'s.

    What mmengine's ``slurm`` launcher does before it initialises the
    process group, without the CUDA calls: ``RANK`` from ``SLURM_PROCID``,
    ``WORLD_SIZE`` from ``SLURM_NTASKS``, ``LOCAL_RANK`` from
    ``SLURM_LOCALID`` (0 without it; on CPUs it only names the process in
    the logs), ``MASTER_PORT`` from ``port``, else kept from the
    environment, else 29500, and ``MASTER_ADDR`` kept from the environment,
    else the first host of ``SLURM_NODELIST`` as ``scontrol show
    hostnames`` lists it.

    Args:
        port: The master port (``env_cfg.dist_cfg.port``).

    Raises:
        ValueError: A Slurm variable is missing, i.e. not run by ``srun``.
        RuntimeError: No ``MASTER_ADDR`` and ``scontrol`` cannot resolve
            ``SLURM_NODELIST``.
    """
    missing = [name for name in SLURM_VARIABLES if name not in os.environ]
    if missing:
        raise ValueError(
            f'--launcher slurm needs {", ".join(SLURM_VARIABLES)} (srun '
            f'sets them); missing: {", ".join(missing)}')
    if port is not None:
        os.environ['MASTER_PORT'] = str(port)
    os.environ.setdefault('MASTER_PORT', '29500')
    if 'MASTER_ADDR' not in os.environ:
        os.environ['MASTER_ADDR'] = _first_slurm_host(
            os.environ['SLURM_NODELIST'])
    os.environ['WORLD_SIZE'] = str(int(os.environ['SLURM_NTASKS']))
    os.environ['LOCAL_RANK'] = str(int(os.environ.get('SLURM_LOCALID', 0)))
    os.environ['RANK'] = str(int(os.environ['SLURM_PROCID']))


def _set_cpu_model_wrapper(cfg: Config) -> None:
    """mmengine's default DDP wrapper, or the config's, for a CPU module."""
    wrapper = cfg.get('model_wrapper_cfg')
    if wrapper is None:
        cfg.model_wrapper_cfg = dict(
            type='MMDistributedDataParallel',
            device_ids=None,
            broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))
        return
    wrapper_type = wrapper.get('type', 'MMDistributedDataParallel')
    if isinstance(wrapper_type, str):
        wrapper_type = MODEL_WRAPPERS.get(wrapper_type)
    if (isinstance(wrapper_type, type)
            and issubclass(wrapper_type, DistributedDataParallel)):
        wrapper.setdefault('device_ids', None)


def setup_cpu_distributed(cfg: Config) -> bool:
    """Prepare a ``--launcher pytorch`` or ``--launcher slurm`` run on CPUs
    for ``Runner.from_cfg``.

    Does nothing unless ``cfg.launcher`` is ``'pytorch'`` or ``'slurm'`` and
    no accelerator is available (on GPUs mmengine's own path, NCCL by
    default, is used). Otherwise it initialises the default process group
    with ``gloo`` from torchrun's environment (``RANK``, ``WORLD_SIZE``,
    ``MASTER_ADDR``, ``MASTER_PORT``), which for ``slurm`` is first derived
    from srun's by :func:`set_slurm_dist_env` (with
    ``env_cfg.dist_cfg.port``), honouring ``env_cfg.dist_cfg.timeout``
    (seconds), and edits ``cfg`` in place:

    - ``env_cfg.dist_cfg.backend = 'gloo'``, so that the dumped config says
      what ran;
    - without a ``model_wrapper_cfg``: the wrapper mmengine would build,
      ``MMDistributedDataParallel`` with ``broadcast_buffers=False`` and the
      config's ``find_unused_parameters``, but with ``device_ids=None`` (DDP
      of a CPU module takes no device ids);
    - with a ``model_wrapper_cfg`` of a ``DistributedDataParallel`` type:
      ``device_ids=None`` unless it sets them.

    With ``--launcher pytorch``, on any device, it first checks that
    torchrun's variables are set (:func:`check_torchrun_env`).

    Args:
        cfg: The full config, with ``launcher`` set from the command line.

    Returns:
        Whether this function set up the CPU run.

    Raises:
        ValueError: ``--launcher pytorch`` without torchrun's ``RANK`` and
            ``WORLD_SIZE``, or ``--launcher slurm`` without srun's
            variables.
    """
    launcher = cfg.get('launcher', 'none')
    if launcher == 'pytorch' and not is_distributed():
        # mmengine's own set-up (on GPUs) would die on a bare KeyError.
        check_torchrun_env()
    if launcher not in ('pytorch', 'slurm') or get_device() != 'cpu':
        return False
    dist_cfg = dict(cfg.get('env_cfg', {}).get('dist_cfg', {}))
    if dist_cfg.pop('init_backend', 'torch') != 'torch':
        raise ValueError('CPU distributed runs support only '
                         "env_cfg.dist_cfg.init_backend='torch'")
    dist_cfg.pop('backend', None)
    if dist_cfg.get('timeout') is not None:
        dist_cfg['timeout'] = datetime.timedelta(seconds=dist_cfg['timeout'])
    if not is_distributed():
        if launcher == 'slurm':
            set_slurm_dist_env(dist_cfg.pop('port', None))
        torch_dist.init_process_group(
            backend='gloo',
            rank=int(os.environ['RANK']),
            world_size=int(os.environ['WORLD_SIZE']),
            **dist_cfg)

    cfg.merge_from_dict({'env_cfg.dist_cfg.backend': 'gloo'})
    _set_cpu_model_wrapper(cfg)
    return True


def end_distributed_run() -> None:
    """End a tool's successful distributed run: wait for every rank,
    destroy the process group, flush the logs and leave the process with
    ``os._exit(0)``. A single-process run returns.

    mmengine's Runner never destroys the group, and destroying it is not
    enough: the gloo group lives on in what holds it (the DDP wrapper's
    reducer), and at interpreter finalisation its worker threads can be
    destroyed unjoined or release tensors without the GIL. The process then
    aborts ("terminate called without an active exception", SIGABRT) after
    its work is done, and torchrun reports the run as failed: seen in
    ``tools/dist_test.sh`` with 2 CPU processes on a loaded machine, with
    and without ``destroy_process_group`` (pytorch/pytorch#190489, #179291).
    Leaving with ``os._exit`` skips that finalisation; the run's files are
    written and closed by then (the Runner closes its visualizer after the
    run).
    """
    if not (torch_dist.is_available() and torch_dist.is_initialized()):
        return
    # Every rank done with the group first: a rank that destroys it while
    # another still talks to it makes that one abort.
    torch_dist.barrier()
    torch_dist.destroy_process_group()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
