import itertools
import os
import socket
import subprocess
from pathlib import Path
from typing import Optional

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from mmcaps.datasets import write_idx

REPO = Path(__file__).resolve().parents[1]


def write_tiny_mnist(root: Path, num_train: int = 48, num_test: int = 20,
                     seed: int = 0) -> Path:
    """Write the four MNIST IDX .gz files with random digits under
    ``root`` (MD5s will not match: use ``check_md5=False``)."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for prefix, n in (('train', num_train), ('t10k', num_test)):
        write_idx(str(root / f'{prefix}-images-idx3-ubyte.gz'),
                  rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(str(root / f'{prefix}-labels-idx1-ubyte.gz'),
                  np.arange(n, dtype=np.uint8) % 10)
    return root


@pytest.fixture(scope='session')
def tiny_mnist_root(tmp_path_factory) -> Path:
    return write_tiny_mnist(tmp_path_factory.mktemp('tiny_mnist'))


# Helpers of the engine, tools and bad-input tests: a tiny CapsNet config,
# tool runs in a subprocess and Runners built in-process.

TINY_CAPSNET_CONFIG = '''
_base_ = ['{repo}/configs/capsnet/capsnet_r3-recon_1xb128_mnist.py']
data_root = '{data_root}'
model = dict(
    backbone=dict(conv1_channels=8, primary_types=2, primary_dim=4),
    head=dict(in_capsules=2 * 6 * 6, in_dim=4, out_dim=4,
              decoder=dict(hidden_dims=(16, ))))
# No random augmentation and a fixed seed, so that runs compare exactly.
train_dataloader = dict(
    batch_size=16, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, check_md5=False,
                 pipeline=[dict(type='PackInputs')]))
val_dataloader = dict(
    batch_size=8, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, check_md5=False))
test_dataloader = val_dataloader
train_cfg = dict(max_epochs=2)
randomness = dict(seed=1, deterministic=True)
default_hooks = dict(logger=dict(interval=1))
'''


def write_tiny_config(path: Path, data_root: Path, extra: str = '') -> Path:
    """Write a tiny CapsNet config (72 4-D primary capsules, 4-D class
    capsules, a 16-unit decoder) on the MNIST files of ``data_root`` to
    ``path``, overridden by the config text ``extra``.

    ``extra`` is a child config of the tiny one, so its dicts merge into
    the tiny config's (``_delete_=True`` replaces one).
    """
    base = path.with_name(f'_base_{path.name}')
    base.write_text(
        TINY_CAPSNET_CONFIG.format(repo=REPO, data_root=data_root))
    path.write_text(f"_base_ = ['./{base.name}']\n{extra}")
    return path


def repo_env(*paths: Path, **variables: str) -> dict:
    """The environment of a tool run: ``paths`` (e.g. the folder of a test
    module that defines hooks for the run), the repository and ``tests/``
    on ``PYTHONPATH``, plus the environment ``variables``."""
    entries = [*map(str, paths), str(REPO), str(REPO / 'tests'),
               os.environ.get('PYTHONPATH')]
    return dict(os.environ,
                PYTHONPATH=os.pathsep.join(p for p in entries if p),
                **variables)


def run_in_repo(*cmd, env: Optional[dict] = None, timeout: int = 300) -> str:
    """Run ``cmd`` in the repository root with :func:`repo_env`, assert
    that it succeeds and return its stdout and stderr."""
    proc = subprocess.run([str(c) for c in cmd], cwd=REPO,
                          env=env or repo_env(), capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def free_port() -> int:
    """A TCP port free at the time of the call, for torchrun's master."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


_runner_ids = itertools.count()


def build_tiny_runner(work_dir: Path, data_root: Path,
                      extra: str = '') -> Runner:
    """A ``Runner`` of the tiny config (see :func:`write_tiny_config`)
    built in this process, working in ``work_dir``.

    Each gets its own experiment name, so that runners of one work dir do
    not share mmengine's logger and visualizer instances. Not
    deterministic mode: ``torch.use_deterministic_algorithms`` is
    process-wide and would leak into the other tests (CPU runs are
    reproducible without it).
    """
    cfg = Config.fromfile(
        write_tiny_config(work_dir / 'tiny_capsnet.py', data_root, extra))
    cfg.work_dir = str(work_dir)
    cfg.experiment_name = f'{work_dir.name}-{next(_runner_ids)}'
    cfg.randomness.deterministic = False
    return Runner.from_cfg(cfg)


def checkpoint_weights(path: Path) -> dict:
    """The ``state_dict`` of a checkpoint, loaded safely."""
    return torch.load(path, map_location='cpu',
                      weights_only=True)['state_dict']


# Helper of the capsule-head tests: any repository config on the tiny
# MNIST files.

TINY_MNIST_RUN = '''
_base_ = ['{repo}/{config}']
data_root = '{data_root}'
train_dataloader = dict(
    batch_size=16, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, check_md5=False))
val_dataloader = dict(
    batch_size=8, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, check_md5=False))
test_dataloader = val_dataloader
train_cfg = dict(max_epochs=1)
default_hooks = dict(logger=dict(interval=1))
'''


def write_tiny_mnist_config(path: Path, config: str, data_root: Path,
                            extra: str = '') -> Path:
    """Write to ``path`` a child of the repository config ``config`` (a
    path relative to the repository, on ``MNISTIdx`` data) that trains one
    epoch at batch 16 on the MNIST files of ``data_root``, without worker
    processes, logging every iteration; ``extra`` is config text appended
    to it."""
    path.write_text(
        TINY_MNIST_RUN.format(repo=REPO, config=config, data_root=data_root)
        + extra)
    return path
