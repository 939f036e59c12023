"""The multi-node launch commands of the ImageNet-scale guide, run as
written with the launchers stubbed: ``PYTHON=echo`` for
``tools/dist_train.sh`` (it prints the ``torch.distributed.run`` command
each node would run) and an ``srun`` on ``PATH`` that prints its arguments
for ``tools/slurm_train.sh``. What reaches ``tools/train.py`` must be
options its parser accepts."""
import os
import re
import shlex
import stat
import subprocess
import sys

import pytest
from conftest import REPO, repo_env

GUIDE = REPO / 'docs' / 'en' / 'user_guides' / 'capsule_heads.md'


def launch_commands():
    """The guide's shell commands that call a launch script, with their
    environment assignments, continuation lines joined."""
    blocks = re.findall(r'```(?:bash|shell)\n(.*?)```', GUIDE.read_text(),
                        re.S)
    commands = []
    for block in blocks:
        for line in block.replace('\\\n', ' ').splitlines():
            if 'tools/dist_train.sh' in line or 'tools/slurm_train.sh' in line:
                commands.append(shlex.split(line))
    return commands


def split_env(argv):
    env = {}
    while '=' in argv[0] and not argv[0].startswith('-'):
        key, value = argv.pop(0).split('=', 1)
        env[key] = value
    return env, argv


def train_parser_accepts(options):
    """Parse ``CONFIG + options`` with tools/train.py's own parser."""
    code = ('import sys; sys.path.insert(0, "tools"); import train; '
            'sys.argv = ["train.py"] + sys.argv[1:]; train.parse_args()')
    return subprocess.run([sys.executable, '-c', code, *options],
                          cwd=REPO, env=repo_env(), capture_output=True,
                          text=True)


def test_the_guide_has_single_node_multi_node_and_slurm_commands():
    commands = launch_commands()
    envs = [split_env(list(c))[0] for c in commands]
    assert sum('NNODES' in env for env in envs) == 2
    assert {env.get('NODE_RANK') for env in envs} >= {'0', '1'}
    assert any('tools/slurm_train.sh' in c for c in commands)
    assert any(not env and 'tools/dist_train.sh' in c
               for env, c in zip(envs, commands))


@pytest.mark.parametrize('argv', launch_commands(),
                         ids=lambda a: ' '.join(a)[:60])
def test_launch_command_runs_as_written(argv, tmp_path):
    env, argv = split_env(list(argv))
    assert argv[:1] == ['bash']
    script = argv[1]
    run_env = repo_env()
    run_env.update(env)
    if script == 'tools/dist_train.sh':
        run_env['PYTHON'] = 'echo'
    else:
        srun = tmp_path / 'srun'
        srun.write_text('#!/bin/sh\necho srun "$@"\n')
        srun.chmod(srun.stat().st_mode | stat.S_IEXEC)
        run_env['PATH'] = f'{tmp_path}{os.pathsep}{run_env["PATH"]}'
    out = subprocess.run(argv, cwd=REPO, env=run_env, capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr
    printed = shlex.split(out.stdout.strip().splitlines()[-1])
    train = next(i for i, a in enumerate(printed)
                 if a.endswith('tools/train.py'))
    options = printed[train + 1:]
    config = options[0]
    assert (REPO / config).is_file()
    if script == 'tools/dist_train.sh':
        assert '-m' in printed and 'torch.distributed.run' in printed
        assert f'--nnodes={env.get("NNODES", 1)}' in printed
        assert f'--node_rank={env.get("NODE_RANK", 0)}' in printed
        assert f'--nproc_per_node={argv[3]}' in printed
        assert '--launcher' in options or '--launcher=pytorch' in options
    else:
        assert printed[0] == 'srun'
        assert f'--ntasks={env["GPUS"]}' in printed
        assert f'--ntasks-per-node={env["GPUS_PER_NODE"]}' in printed
        assert '--launcher=slurm' in options
    parsed = train_parser_accepts(options)
    assert parsed.returncode == 0, parsed.stderr
