"""``--launcher slurm`` on CPUs: two ``tools/train.py`` (``tools/test.py``)
processes started as ``srun`` starts them for ``tools/slurm_train.sh``
(``tools/slurm_test.sh``): same command line, srun's variables, an
``scontrol`` to resolve the node list. Training is checked against one
process with the same total batch.

The checks of the torchrun runs in test_distributed.py are imported and
run here on the Slurm-style run: the ``ddp`` fixture below stands in for
theirs, ``data_root`` and ``single`` are theirs.
"""
import os
import pickle
import re
import stat
import subprocess
import sys

import pytest
from conftest import REPO, free_port, write_tiny_config
from test_distributed import (DDP_RUN, data_root, single,  # noqa: F401
                              test_ddp_2x8_equals_single_process_1x16,
                              test_ddp_ranks_hold_identical_weights,
                              test_ddp_runs_with_gloo_and_cpu_wrapper,
                              tool_env)


def slurm_env(bin_dir, rank: int, port: int) -> dict:
    """The environment srun gives task ``rank`` of 2 on one node, with an
    ``scontrol`` in ``bin_dir`` that resolves the node list to this
    machine, and none of torchrun's variables."""
    scontrol = bin_dir / 'scontrol'
    if not scontrol.exists():
        scontrol.write_text('#!/bin/sh\necho 127.0.0.1\n')
        scontrol.chmod(scontrol.stat().st_mode | stat.S_IXUSR)
    env = tool_env(SLURM_PROCID=str(rank), SLURM_LOCALID=str(rank),
                   SLURM_NTASKS='2', SLURM_NODELIST='cpu-node1',
                   MASTER_PORT=str(port),
                   PATH=f'{bin_dir}{os.pathsep}{os.environ["PATH"]}')
    for name in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR'):
        env.pop(name, None)
    return env


def slurm_run(bin_dir, *args) -> str:
    """Run ``python -u ARGS --launcher=slurm`` as 2 Slurm tasks in the
    repository, assert that both succeed and return rank 0's output."""
    port = free_port()
    cmd = [sys.executable, '-u', *map(str, args), '--launcher=slurm']
    procs = [
        subprocess.Popen(cmd, cwd=REPO, env=slurm_env(bin_dir, rank, port),
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True) for rank in range(2)
    ]
    logs = [proc.communicate(timeout=300)[0] for proc in procs]
    for proc, log in zip(procs, logs):
        assert proc.returncode == 0, log[-3000:]
    return logs[0]


@pytest.fixture(scope='module')
def ddp(tmp_path_factory, data_root):  # noqa: F811
    work_dir = tmp_path_factory.mktemp('slurm')
    config = write_tiny_config(
        work_dir / 'slurm.py', data_root,
        DDP_RUN.format(out_dir=work_dir, batch_size=8))
    log = slurm_run(work_dir, 'tools/train.py', config,
                    f'--work-dir={work_dir}')
    return work_dir, config, log


def test_slurm_test_tool_collects_every_image_once(ddp, tmp_path):
    # 21 images over 2 tasks: rank 1 gets a padding copy of image 0, which
    # collect_results drops again; the accuracy is that of the predictions.
    work_dir, config, _ = ddp
    out = tmp_path / 'preds.pkl'
    log = slurm_run(tmp_path, 'tools/test.py', config,
                    work_dir / 'iter_3.pth', '--work-dir', tmp_path, '--out',
                    out)
    assert 'Distributed launcher: slurm' in log
    with open(out, 'rb') as f:
        preds = pickle.load(f)
    labels = [p['gt_label'].item() for p in preds]
    assert labels == [i % 10 for i in range(21)]
    correct = sum(p['pred_label'].item() == p['gt_label'].item()
                  for p in preds)
    accuracy = re.search(r'Epoch\(test\).*accuracy/top1: ([\d.]+)', log)
    assert float(accuracy.group(1)) == pytest.approx(100 * correct / 21,
                                                     abs=1e-4)


@pytest.mark.parametrize('script', ['slurm_train.sh', 'slurm_test.sh'])
@pytest.mark.parametrize('gres, expected', [
    (None, ['--gres=gpu:4']),
    ('', []),
    ('gpu:a100:2', ['--gres=gpu:a100:2']),
])
def test_slurm_scripts_gres(tmp_path, script, gres, expected):
    """The scripts request GPUs by default and nothing with ``GRES=``."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    fake = bin_dir / 'srun'
    fake.write_text('#!/bin/sh\nfor a in "$@"; do echo "$a"; done\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    env = dict(os.environ, PATH=f'{bin_dir}{os.pathsep}{os.environ["PATH"]}',
               GPUS='8', GPUS_PER_NODE='4')
    env.pop('GRES', None)
    if gres is not None:
        env['GRES'] = gres
    out = subprocess.run(
        ['bash', str(REPO / 'tools' / script), 'part', 'job', 'cfg.py',
         'path'], env=env, capture_output=True, text=True, check=True)
    args = out.stdout.split('\n')
    assert [a for a in args if a.startswith('--gres')] == expected
    assert '--ntasks=8' in args and '--ntasks-per-node=4' in args
    assert '--launcher=slurm' in args


def fake_command(bin_dir, name: str):
    """An executable ``name`` in ``bin_dir`` that prints ``PYTHONPATH=...``
    and then its arguments, one per line."""
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / name
    fake.write_text('#!/bin/sh\necho "PYTHONPATH=$PYTHONPATH"\n'
                    'for a in "$@"; do echo "$a"; done\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    return fake


@pytest.mark.parametrize('script,fixed,passed', [
    ('slurm_train.sh', ['part', 'job', 'cfg 1.py', 'work dir'],
     ['cfg 1.py', '--work-dir=work dir']),
    ('slurm_test.sh', ['part', 'job', 'cfg 1.py', 'ckpt 1.pth'],
     ['cfg 1.py', 'ckpt 1.pth']),
    ('dist_train.sh', ['cfg 1.py', '2'], ['cfg 1.py', '--nproc_per_node=2']),
    ('dist_test.sh', ['cfg 1.py', 'ckpt 1.pth', '2'],
     ['cfg 1.py', 'ckpt 1.pth']),
])
def test_scripts_keep_arguments_whole(tmp_path, script, fixed, passed):
    """Options with spaces or wildcards reach the tool as given, PYTHON
    picks the interpreter, and an unset PYTHONPATH adds no empty entry
    (which would put the current directory on sys.path)."""
    bin_dir = tmp_path / 'bin'
    fake_command(bin_dir, 'srun')
    python = fake_command(bin_dir, 'my-python')
    # A file a glob expansion of '*' would find.
    (tmp_path / 'glob-bait').touch()
    env = dict(os.environ, PATH=f'{bin_dir}{os.pathsep}{os.environ["PATH"]}',
               PYTHON=str(python), SRUN_ARGS='--exclusive  --qos=low')
    env.pop('PYTHONPATH', None)
    options = ['--cfg-options', 'work_dir=/tmp/a b', 'tags=*']
    out = subprocess.run(['bash', str(REPO / 'tools' / script), *fixed,
                          *options], cwd=tmp_path, env=env,
                         capture_output=True, text=True, check=True)
    lines = out.stdout.split('\n')
    assert lines[0] == f'PYTHONPATH={REPO / "tools"}/..'
    assert lines[-len(options) - 1:-1] == options
    assert set(passed) <= set(lines)
    if script.startswith('slurm'):
        assert lines[lines.index(str(python)) + 1] == '-u'
        assert '--exclusive' in lines and '--qos=low' in lines
    else:
        # dist_*.sh run PYTHON itself (-m torch.distributed.run).
        assert lines[1:3] == ['-m', 'torch.distributed.run']
    assert 'glob-bait' not in lines
