"""Prove the CUDA paths and measure speed and accuracy on one GPU, in one
command that budgets its own time (default 8 minutes).

Stages, in order, each with its own time budget (``STAGES``); a stage that
no longer fits in what is left of ``--budget`` is skipped, saying so:

1. ``environment``: Python, torch, CUDA, cuDNN, the GPUs, TF32 settings,
   package versions, the driver (nvidia-smi), the MNIST files.
2. ``cuda_tests``: ``python -m pytest -m cuda tests/test_cuda``, the CUDA
   paths against CPU and float64 references.
3. ``amp_train``: ``tools/train.py --amp`` (on CUDA float16 with dynamic
   loss scaling) for 300 steps: every logged loss finite.
4. ``distributed_resume``: ``tools/dist_train.sh`` (torchrun, NCCL, one
   process per GPU) for two epochs of an MNIST subset, then the same run
   resumed from its checkpoint in the middle of epoch 2: both end with
   equal weights, optimizer and scheduler states.
5. ``speed``: ``tools/benchmark.py`` at batch 128 on the paper's CapsNet
   in fp32, TF32 and bf16 (images/s of the model, the conv-only floor and
   the straightforward formulation, peak memory), the routings side by
   side, and one MNIST epoch end to end through ``tools/train.py`` with the
   GPU-resident data path.
6. ``reproduction``: the paper's CapsNet on full MNIST with the
   GPU-resident data path for as many epochs as the time left allows
   (estimated from stage 5; Adam, lr 1e-3 cosine-annealed to zero over
   those epochs), then its test error; the baseline CNN on the same
   schedule if time remains.

Everything goes to ``--out``: ``results.json``, ``summary.md`` and one log
a stage in ``logs/`` (8 files in all), rewritten atomically before and
after every stage, so a run cut short keeps the stages it finished and
names the one it was in. Configs, checkpoints and the runs' own logs go to
``--work-dir``.

``--dry-run`` runs every stage on the CPU (the GPU hidden) with a handful
of steps on a tiny synthetic MNIST; the CUDA tests report as skipped.

Examples::

    python tools/gpu_check.py --out work_dirs/gpu_check_results
    python tools/gpu_check.py --dry-run --out work_dirs/gpu_check_dry_run
"""
import argparse
import datetime
import json
import math
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

REPO = Path(__file__).resolve().parents[1]
CAPSNET_CONFIG = 'configs/capsnet/capsnet_r3-recon_1xb128_mnist-inmemory.py'
# The baseline CNN composed like CAPSNET_CONFIG: same data path, schedule
# and runtime.
CNN_BASES = (
    'configs/_base_/models/cnn_baseline_mnist.py',
    'configs/_base_/datasets/mnist_inmemory_bs128.py',
    'configs/_base_/schedules/mnist_adam_50e.py',
    'configs/_base_/default_runtime.py',
)
# The other routings of configs/capsnet, timed beside the paper's model.
ROUTING_CONFIGS = (
    'configs/capsnet/capsnet_r1-recon_1xb128_mnist.py',
    'configs/capsnet/capsnet_em-recon_1xb128_mnist.py',
    'configs/capsnet/capsnet_selfattn-recon_1xb128_mnist.py',
)
MNIST_FILES = ('train-images-idx3-ubyte', 'train-labels-idx1-ubyte',
               't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte')
# The goals for the GPU run.
EPOCH_GOAL_S = 5.0
FLOOR_GOAL = 1.2
ERROR_GOAL = 0.30

# Runs a script with TF32 on or off for cuBLAS matmuls and cuDNN
# convolutions: python -c LAUNCHER {tf32,fp32} SCRIPT ARGS...
PRECISION_LAUNCHER = (
    'import runpy, sys, torch; '
    'tf32 = sys.argv.pop(1) == "tf32"; '
    'torch.backends.cuda.matmul.allow_tf32 = tf32; '
    'torch.backends.cudnn.allow_tf32 = tf32; '
    'sys.argv = sys.argv[1:]; '
    'runpy.run_path(sys.argv[0], run_name="__main__")')

# Prints the environment as JSON (in a fresh process, so that a broken CUDA
# set-up cannot take the check down); given a folder and two counts, first
# writes a synthetic MNIST of that many training and test images there.
ENV_PROBE = r'''
import importlib.metadata as metadata
import json, platform, sys
import torch

def version(*names):
    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return None

info = dict(
    python=sys.version.split()[0], platform=platform.platform(),
    torch=torch.__version__, torch_cuda=torch.version.cuda,
    cudnn=torch.backends.cudnn.version()
    if torch.backends.cudnn.is_available() else None,
    cuda_available=torch.cuda.is_available(), devices=[])
for i in range(torch.cuda.device_count()):
    p = torch.cuda.get_device_properties(i)
    info['devices'].append(dict(
        name=p.name, memory_gib=round(p.total_memory / 2**30, 1),
        capability=f'{p.major}.{p.minor}',
        multiprocessors=p.multi_processor_count))
if info['cuda_available']:
    info['bf16_supported'] = torch.cuda.is_bf16_supported()
try:
    info['tf32'] = dict(
        matmul=torch.backends.cuda.matmul.allow_tf32,
        cudnn=torch.backends.cudnn.allow_tf32,
        float32_matmul_precision=torch.get_float32_matmul_precision())
except RuntimeError as e:  # the legacy and new TF32 APIs were mixed
    info['tf32'] = str(e)
import mmcaps  # the package must import here for any later stage
if len(sys.argv) > 1:
    import numpy as np
    from mmcaps.datasets import write_idx
    rng = np.random.default_rng(0)
    for prefix, n in zip(('train', 't10k'), map(int, sys.argv[2:])):
        write_idx(f'{sys.argv[1]}/{prefix}-images-idx3-ubyte.gz',
                  rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(f'{sys.argv[1]}/{prefix}-labels-idx1-ubyte.gz',
                  np.arange(n, dtype=np.uint8) % 10)
info['packages'] = dict(
    mmcaps=mmcaps.__version__, mmengine=version('mmengine'),
    mmpretrain=version('mmpretrain'), mmcv=version('mmcv', 'mmcv-lite'),
    numpy=version('numpy'), timm=version('timm'))
print(json.dumps(info))
'''


@dataclass(frozen=True)
class Sizes:
    """How much each stage does: a GPU run or the CPU dry run."""
    batch_size: int
    bench_batch_size: int
    amp_iters: int
    amp_log_interval: int
    resume_iters_per_epoch: int
    bench_warmup: int
    bench_rounds: int
    bench_steps: int
    bench_data_batches: int
    bench_memory: bool
    log_interval: int
    max_epochs: int


GPU_SIZES = Sizes(batch_size=128, bench_batch_size=128, amp_iters=300,
                  amp_log_interval=25, resume_iters_per_epoch=20,
                  bench_warmup=5, bench_rounds=5, bench_steps=10,
                  bench_data_batches=100, bench_memory=True,
                  log_interval=100, max_epochs=100)
# Tiny synthetic MNIST for the dry run: 32 training images (4 batches of
# 8), 16 test images; the benchmark at batch 2 on the paper's models.
DRY_SIZES = Sizes(batch_size=8, bench_batch_size=2, amp_iters=4,
                  amp_log_interval=1, resume_iters_per_epoch=4,
                  bench_warmup=0, bench_rounds=1, bench_steps=1,
                  bench_data_batches=2, bench_memory=False, log_interval=1,
                  max_epochs=1)
DRY_TRAIN_IMAGES, DRY_TEST_IMAGES = 32, 16


class StageFailed(Exception):
    """The stage ran and found a problem; the message says which."""


class StageSkipped(Exception):
    """The stage cannot run (time, a failed prerequisite)."""


@dataclass
class CommandResult:
    """A finished (or killed) subprocess."""
    rc: Optional[int]
    output: str
    seconds: float
    timed_out: bool


@dataclass
class Stage:
    """One stage: ``run(check, ctx)`` fills ``ctx.metrics`` and raises
    :class:`StageFailed` or :class:`StageSkipped`, else it passed."""
    name: str
    title: str
    budget_s: float
    min_s: float
    run: Callable[['Check', 'StageContext'], None]


@dataclass
class StageContext:
    """A running stage: its log, its deadline, what it measured."""
    check: 'Check'
    log: Path
    deadline: float
    metrics: dict = field(default_factory=dict)
    commands: List[dict] = field(default_factory=list)

    def left(self) -> float:
        """Seconds left to the stage's deadline."""
        return self.deadline - time.monotonic()

    def note(self, text: str) -> None:
        """Append a line to the stage log."""
        with open(self.log, 'a') as f:
            f.write(text.rstrip('\n') + '\n')

    def command(self, cmd: List[str], env: Optional[Dict[str, str]] = None,
                check: bool = True) -> CommandResult:
        """Run ``cmd`` in the repository with the check's environment plus
        ``env``, its output appended to the stage log, killed (with its
        children) at the stage's deadline.

        Raises:
            StageFailed: With ``check``, a non-zero exit or a timeout.
        """
        cmd = [str(c) for c in cmd]
        name = command_name(cmd)
        timeout = self.left()
        if timeout < 1:
            raise StageFailed(f'no time left in the stage for {name}')
        self.note(f'\n$ {shlex.join(cmd)}')
        start_offset = self.log.stat().st_size
        start = time.monotonic()
        with open(self.log, 'a') as log:
            proc = subprocess.Popen(
                cmd, cwd=REPO, env=dict(self.check.env, **(env or {})),
                stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
            self.check.child = proc
            try:
                rc, timed_out = proc.wait(timeout=timeout), False
            except subprocess.TimeoutExpired:
                kill_group(proc)
                rc, timed_out = None, True
            finally:
                self.check.child = None
        seconds = time.monotonic() - start
        with open(self.log, errors='replace') as f:
            f.seek(start_offset)
            output = f.read()
        status = (f'killed after {seconds:.1f} s (stage budget)'
                  if timed_out else f'exit {rc} after {seconds:.1f} s')
        self.note(f'[{status}]')
        self.commands.append(
            dict(command=shlex.join(cmd), rc=rc, seconds=round(seconds, 2),
                 timed_out=timed_out))
        result = CommandResult(rc, output, seconds, timed_out)
        if check and timed_out:
            raise StageFailed(f'{name} was killed at the stage budget after '
                              f'{seconds:.0f} s')
        if check and rc != 0:
            raise StageFailed(f'{name} exited with {rc}: '
                              f'{last_error(output)}')
        return result


def command_name(cmd: List[str]) -> str:
    """What a command runs: its script (``tools/train.py``), its module
    (``pytest``), else its program."""
    scripts = [c for c in cmd if c.endswith(('.py', '.sh'))]
    if scripts:
        return scripts[0]
    if '-m' in cmd[:-1]:
        return cmd[cmd.index('-m') + 1]
    return Path(cmd[0]).name


def kill_group(proc: subprocess.Popen) -> None:
    """Terminate a process started in its own session and all its
    children (torchrun's workers), then kill what is left."""
    for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            pass


def last_error(output: str, lines: int = 3) -> str:
    """The last lines of a failed command's output that name an error (a
    Python exception, pytest's FAILED lines), else its last lines."""
    text = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [
        line for line in text
        if re.match(r'(\w+\.)*\w*(Error|Exception|Interrupt)\b', line)
        or line.startswith(('FAILED', 'ERROR'))
    ]
    return ' | '.join((errors or text)[-lines:])[-600:]


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename, so
    that a reader never sees a partial file."""
    tmp = path.with_name(f'.{path.name}.tmp')
    tmp.write_text(text)
    os.replace(tmp, path)


def free_port() -> int:
    """A TCP port free at the time of the call, for torchrun's master."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def git_state() -> dict:
    """The checkout's commit and whether tracked files have changes."""

    def git(*args):
        proc = subprocess.run(['git', *args], cwd=REPO, capture_output=True,
                              text=True)
        return proc.stdout.strip() if proc.returncode == 0 else None

    status = git('status', '--porcelain', '--untracked-files=no')
    return dict(commit=git('rev-parse', 'HEAD'),
                dirty=None if status is None else bool(status))


# Configs of the runs: children of the repository's configs, written from
# override dicts.

NO_VALIDATION = dict(val_cfg=None, val_dataloader=None, val_evaluator=None)
# The dry run's models: the paper's layers with a handful of channels.
DRY_MODELS = dict(
    capsnet=dict(model=dict(
        backbone=dict(conv1_channels=8, primary_types=2, primary_dim=4),
        head=dict(in_capsules=2 * 6 * 6, in_dim=4, out_dim=4,
                  decoder=dict(hidden_dims=(16, ))))),
    cnn=dict(model=dict(
        backbone=dict(conv_channels=(8, 8, 4), fc_channels=(16, 8)),
        head=dict(in_channels=8))),
)


def merge(base: dict, override: dict) -> dict:
    """``override`` merged into a copy of ``base``, dicts recursively."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            value = merge(merged[key], value)
        merged[key] = value
    return merged


def config_text(bases, *overrides: dict) -> str:
    """A config of the repository configs ``bases`` (paths relative to the
    repository) with ``overrides`` merged in order, each top-level key
    written once (a later assignment would replace, not merge)."""
    merged = {}
    for override in overrides:
        merged = merge(merged, override)
    base = ', '.join(repr(str(REPO / b)) for b in bases)
    return f'_base_ = [{base}]\n' + ''.join(
        f'{key} = {value!r}\n' for key, value in merged.items())


def epoch_timing(log_interval: int) -> dict:
    """Log each epoch's last iteration with the mean iteration time over the
    epoch (``epoch_mean_time``; times the iterations it is the epoch's wall
    time, data loading and hooks included)."""
    return dict(
        default_hooks=dict(
            logger=dict(interval=log_interval, ignore_last=False)),
        log_processor=dict(custom_cfg=[
            dict(data_src='time', log_name='epoch_mean_time',
                 method_name='mean', window_size='epoch')
        ]))


def cosine_schedule(epochs: int) -> dict:
    """``epochs`` epochs, the lr cosine-annealed to zero over them (each
    iteration), validation and a checkpoint after the last only."""
    return dict(
        param_scheduler=dict(
            _delete_=True, type='CosineAnnealingLR', by_epoch=True,
            T_max=epochs, eta_min=0., convert_to_iter_based=True),
        train_cfg=dict(max_epochs=epochs, val_interval=epochs),
        default_hooks=dict(checkpoint=dict(interval=epochs)))


def read_scalars(work_dir: Path) -> List[dict]:
    """The scalar logs (``vis_data/scalars.json``, one JSON a line) of the
    latest run in ``work_dir``."""
    files = sorted(work_dir.glob('*/vis_data/scalars.json'),
                   key=lambda p: p.stat().st_mtime)
    if not files:
        return []
    return [json.loads(line) for line in files[-1].read_text().splitlines()
            if line.strip()]


def epoch_times(scalars: List[dict]) -> List[float]:
    """Wall time of each finished training epoch, from the last logged
    iteration of each epoch (``epoch_mean_time`` times its iterations)."""
    last = {}
    for entry in scalars:
        if 'epoch_mean_time' in entry and 'epoch' in entry:
            last[entry['epoch']] = entry
    times, previous_iter = [], 0
    for epoch in sorted(last):
        entry = last[epoch]
        times.append(entry['epoch_mean_time'] * (entry['iter'] -
                                                 previous_iter))
        previous_iter = entry['iter']
    return times


def accuracy(scalars: List[dict]) -> Optional[float]:
    """The last validation top-1 accuracy (%), if any."""
    values = [e['accuracy/top1'] for e in scalars if 'accuracy/top1' in e]
    return values[-1] if values else None


def logged_losses(output: str) -> List[float]:
    """The total loss of every logged training iteration."""
    return [
        float(x) for x in re.findall(r'\(train\).*?\sloss: (\S+)', output)
    ]


def optim_wrapper_type(output: str) -> Optional[str]:
    """The optimizer wrapper type in the config that the run printed."""
    match = re.search(r"optim_wrapper = dict\(.*?type='(\w*OptimWrapper)'",
                      output, re.S)
    return match.group(1) if match else None


def load_checkpoint(path: Path) -> dict:
    """A checkpoint of a run of this check, loaded safely on the CPU."""
    import torch
    return torch.load(path, map_location='cpu', weights_only=True)


def deep_equal(x, y) -> bool:
    """Equality of nested dicts, lists and tensors (tensors: same dtype,
    shape and values)."""
    import torch
    if isinstance(x, torch.Tensor):
        return isinstance(y, torch.Tensor) and torch.equal(x, y)
    if isinstance(x, dict):
        return (isinstance(y, dict) and x.keys() == y.keys()
                and all(deep_equal(x[k], y[k]) for k in x))
    if isinstance(x, (list, tuple)):
        return (isinstance(y, (list, tuple)) and len(x) == len(y)
                and all(map(deep_equal, x, y)))
    return x == y


def compare_checkpoints(a: Path, b: Path) -> dict:
    """Whether two checkpoints hold equal weights, optimizer and scheduler
    states, and the largest difference between their weights."""
    ca, cb = load_checkpoint(a), load_checkpoint(b)
    diffs = [(value.double() - cb['state_dict'][key].double()).abs().max()
             for key, value in ca['state_dict'].items()
             if value.is_floating_point() and value.numel()]
    return dict(
        iters=[ca['meta']['iter'], cb['meta']['iter']],
        weights_equal=deep_equal(ca['state_dict'], cb['state_dict']),
        max_weight_diff=max(diffs).item() if diffs else 0.0,
        optimizer_equal=deep_equal(ca['optimizer'], cb['optimizer']),
        schedulers_equal=deep_equal(ca['param_schedulers'],
                                    cb['param_schedulers']))


# The stages.


def stage_environment(check: 'Check', ctx: StageContext) -> None:
    """Stage 1: probe the environment; without a GPU (outside a dry run) or
    an importable mmcaps the later stages are skipped, without MNIST those
    that train."""
    probe = [sys.executable, '-c', ENV_PROBE]
    if not check.check_md5:
        check.data_root.mkdir(parents=True, exist_ok=True)
        probe += [check.data_root, DRY_TRAIN_IMAGES, DRY_TEST_IMAGES]
    result = ctx.command(probe, check=False)
    if result.rc != 0:
        check.fatal = ('the environment probe failed: '
                       f'{last_error(result.output)}')
        raise StageFailed(check.fatal)
    # The probe's last JSON line (warnings share the output).
    info = json.loads([line for line in result.output.splitlines()
                       if line.startswith('{')][-1])
    smi = None
    if not check.args.dry_run:
        try:
            smi = subprocess.run(
                ['nvidia-smi', '--query-gpu=name,driver_version,'
                 'memory.total,clocks.max.sm', '--format=csv,noheader'],
                capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.TimeoutExpired) as e:
            smi = f'nvidia-smi failed: {e}'
    info.update(nvidia_smi=smi, cpus=os.cpu_count(), git=git_state(),
                data_root=str(check.data_root),
                data_files=check.data_files())
    ctx.metrics.update(info)
    ctx.note(json.dumps(info, indent=2))
    check.gpus = len(info['devices'])
    if not check.args.dry_run and not (info['cuda_available'] and check.gpus):
        check.fatal = (f"torch {info['torch']} (CUDA {info['torch_cuda']}) "
                       'sees no GPU; on a machine without one use --dry-run')
        raise StageFailed(check.fatal)
    missing = [n for n, size in info['data_files'].items() if size is None]
    if missing:
        check.no_data = (f'MNIST is missing from {check.data_root}: '
                         f'{", ".join(missing)} (.gz or gunzipped)')
        raise StageFailed(check.no_data)


def stage_cuda_tests(check: 'Check', ctx: StageContext) -> None:
    """Stage 2: the CUDA tests, all passing on a GPU, all skipped in a dry
    run."""
    result = ctx.command([
        sys.executable, '-m', 'pytest', '-m', 'cuda', 'tests/test_cuda', '-v',
        '-rfEs', '-p', 'no:cacheprovider'
    ], check=False)
    outcomes = dict(
        re.findall(r'^(tests/\S+::\S+) (PASSED|FAILED|SKIPPED|ERROR)',
                   result.output, re.M))
    counts = {k: sum(v == k for v in outcomes.values())
              for k in ('PASSED', 'FAILED', 'SKIPPED', 'ERROR')}
    ctx.metrics.update(
        {k.lower(): v for k, v in counts.items()},
        failures=re.findall(r'^(?:FAILED|ERROR) (tests/\S+.*)$',
                            result.output, re.M))
    if result.timed_out:
        raise StageFailed(f'pytest was killed at the stage budget after '
                          f'{len(outcomes)} tests')
    if result.rc != 0 or counts['FAILED'] or counts['ERROR']:
        raise StageFailed(f"{counts['FAILED']} failed, {counts['ERROR']} "
                          f'errors: {last_error(result.output)}')
    if check.args.dry_run:
        if counts['PASSED'] or not counts['SKIPPED']:
            raise StageFailed('without a GPU every CUDA test must skip')
    elif counts['SKIPPED'] or not counts['PASSED']:
        raise StageFailed(f"{counts['SKIPPED']} CUDA tests skipped on a GPU")


def stage_amp_train(check: 'Check', ctx: StageContext) -> None:
    """Stage 3: tools/train.py --amp, every logged loss finite."""
    sizes = check.sizes
    work_dir = check.work_dir / 'amp_train'
    result = ctx.command([sys.executable, 'tools/train.py',
                          amp_train_config(check), '--amp',
                          '--work-dir', work_dir])
    losses = logged_losses(result.output)
    wrapper = optim_wrapper_type(result.output)
    ctx.metrics.update(
        iterations=sizes.amp_iters, optim_wrapper=wrapper,
        logged_losses=len(losses), first_loss=losses[0] if losses else None,
        last_loss=losses[-1] if losses else None,
        all_finite=all(map(math.isfinite, losses)))
    ckpt = load_checkpoint(work_dir / f'iter_{sizes.amp_iters}.pth')
    scaler = ckpt['optimizer'].get('loss_scaler')
    ctx.metrics['loss_scale'] = scaler['scale'] if scaler else None
    ctx.metrics['weights_finite'] = all(
        v.isfinite().all().item() for v in ckpt['state_dict'].values()
        if v.is_floating_point())
    expected = sizes.amp_iters // sizes.amp_log_interval
    if len(losses) != expected or not ctx.metrics['all_finite']:
        raise StageFailed(f'{len(losses)} logged losses (expected '
                          f'{expected}), finite: {ctx.metrics["all_finite"]}')
    if not ctx.metrics['weights_finite']:
        raise StageFailed('non-finite weights in the last checkpoint')
    want = 'AutocastOptimWrapper' if check.args.dry_run else 'AmpOptimWrapper'
    if wrapper != want or (not check.args.dry_run and scaler is None):
        raise StageFailed(f'--amp ran with {wrapper} (loss scaler: '
                          f'{scaler is not None}), expected {want}')


def amp_train_config(check: 'Check') -> Path:
    """The paper's CapsNet on the GPU-resident data path for
    ``amp_iters`` iterations, no validation, a checkpoint at the end."""
    sizes = check.sizes
    return check.write_config(
        'amp_train', 'capsnet', [CAPSNET_CONFIG], NO_VALIDATION,
        dict(train_cfg=dict(_delete_=True, type='IterBasedTrainLoop',
                            max_iters=sizes.amp_iters),
             default_hooks=dict(
                 logger=dict(interval=sizes.amp_log_interval),
                 checkpoint=dict(by_epoch=False,
                                 interval=sizes.amp_iters))))


def stage_distributed_resume(check: 'Check', ctx: StageContext) -> None:
    """Stage 4: a torchrun run and the same run resumed from its mid-epoch
    checkpoint end in equal states."""
    procs = max(check.gpus, 1)
    config, ckpt_iter, last_iter = resume_config(check, procs)
    # Deterministic cuBLAS, which torch.use_deterministic_algorithms needs.
    env = dict(PYTHON=sys.executable, CUBLAS_WORKSPACE_CONFIG=':4096:8')
    full, resumed = (check.work_dir / 'dist_full',
                     check.work_dir / 'dist_resumed')
    out = ctx.command(['bash', 'tools/dist_train.sh', config, procs,
                       '--work-dir', full],
                      env=dict(env, PORT=str(free_port()))).output
    backend = re.search(r"dist_cfg=dict\(backend='(\w+)'", out)
    ctx.metrics.update(
        processes=procs, backend=backend.group(1) if backend else None,
        distributed='Distributed training: True' in out,
        checkpoint_iter=ckpt_iter, last_iter=last_iter)
    out = ctx.command(['bash', 'tools/dist_train.sh', config, procs,
                       '--work-dir', resumed, '--resume',
                       full / f'iter_{ckpt_iter}.pth'],
                      env=dict(env, PORT=str(free_port()))).output
    ctx.metrics['resumed_mid_epoch'] = (
        f'resumed epoch: 1, iter: {ckpt_iter}' in out)
    comparison = compare_checkpoints(full / f'iter_{last_iter}.pth',
                                     resumed / f'iter_{last_iter}.pth')
    ctx.metrics.update(comparison)
    want_backend = 'gloo' if check.args.dry_run else 'nccl'
    if not (ctx.metrics['distributed'] and ctx.metrics['backend']
            == want_backend):
        raise StageFailed(f'not a distributed {want_backend} run: '
                          f'backend {ctx.metrics["backend"]}')
    if not ctx.metrics['resumed_mid_epoch']:
        raise StageFailed(f'the second run did not resume at iteration '
                          f'{ckpt_iter}')
    if not (comparison['weights_equal'] and comparison['optimizer_equal']
            and comparison['schedulers_equal']):
        raise StageFailed(f'the resumed run differs: {comparison}')


def resume_config(check: 'Check', procs: int) -> Tuple[Path, int, int]:
    """Two epochs of ``resume_iters_per_epoch`` iterations for ``procs``
    processes on an MNIST subset, deterministic, a checkpoint half-way into
    epoch 2 and one after the last iteration, no validation.

    Returns:
        The config, the iterations of the two checkpoints.
    """
    sizes = check.sizes
    per_epoch = sizes.resume_iters_per_epoch
    ckpt_iter, last_iter = per_epoch + per_epoch // 2, 2 * per_epoch
    config = check.write_config(
        'distributed_resume', 'capsnet', [CAPSNET_CONFIG], NO_VALIDATION,
        dict(train_cfg=dict(max_epochs=2, val_interval=2),
             default_hooks=dict(
                 logger=dict(interval=sizes.amp_log_interval),
                 checkpoint=dict(by_epoch=False, interval=ckpt_iter,
                                 max_keep_ckpts=-1)),
             randomness=dict(seed=0, deterministic=True)),
        indices=per_epoch * procs * sizes.batch_size)
    return config, ckpt_iter, last_iter


def stage_speed(check: 'Check', ctx: StageContext) -> None:
    """Stage 5: the benchmarks and the epoch; one that fails does not stop
    the others."""
    errors = []
    # The goals' measurements first: bf16 against the floor, the epoch.
    runs = [('bf16', lambda: benchmark(check, ctx, 'bf16')),
            ('epoch', lambda: epoch_run(check, ctx)),
            ('fp32', lambda: benchmark(check, ctx, 'fp32'))]
    if check.args.dry_run:
        # CPUs have no TF32: the same command as fp32 with the flag the
        # bf16 run already passed.
        ctx.note('tf32: not run in a dry run (no TF32 on CPUs)')
    else:
        runs.append(('tf32', lambda: benchmark(check, ctx, 'tf32')))
    for name, run in runs:
        try:
            run()
        except StageFailed as e:
            errors.append(f'{name}: {e}')
    if errors:
        raise StageFailed('; '.join(errors))


def benchmark(check: 'Check', ctx: StageContext, precision: str) -> None:
    """tools/benchmark.py on the paper's CapsNet in ``precision``: fp32
    (TF32 off), tf32 (TF32 on for matmuls and convolutions) or bf16 (bf16
    autocast, TF32 on for what stays in float32). The bf16 run also times
    the other routings' steps in the same rounds and the data path."""
    sizes = check.sizes
    out = check.work_dir / f'benchmark_{precision}.json'
    cmd = [
        sys.executable, '-c', PRECISION_LAUNCHER,
        'fp32' if precision == 'fp32' else 'tf32', 'tools/benchmark.py',
        CAPSNET_CONFIG, '--batch-size', sizes.bench_batch_size, '--device',
        check.device, '--warmup', sizes.bench_warmup, '--rounds',
        sizes.bench_rounds, '--steps', sizes.bench_steps, '--out', out
    ]
    if not sizes.bench_memory:
        cmd.append('--no-memory')
    extras = precision == 'bf16'
    if extras:
        cmd += [
            '--amp', 'bf16', '--compare', *ROUTING_CONFIGS,
            '--data-batches', sizes.bench_data_batches, '--cfg-options',
            f'train_dataloader.dataset.dataset.data_root={check.data_root}',
            f'train_dataloader.dataset.dataset.check_md5={check.check_md5}'
        ]
    else:
        cmd += ['--data-batches', 0]
    ctx.command(cmd)
    results = json.loads(out.read_text())
    try:
        entry = dict(variants=results['variants'],
                     step_over_floor=results['step_over_floor'],
                     speedup_over_naive=results['speedup_over_naive'],
                     device=results['device'],
                     batch_size=results['batch_size'])
        if extras:
            entry.update(
                data_samples_per_s=results['data_samples_per_s'],
                data_over_model=results['data_over_model'],
                routings=dict(
                    {Path(CAPSNET_CONFIG).stem: results['variants']['model']},
                    **{Path(p).stem: e
                       for p, e in results['compare'].items()}))
    except KeyError as e:
        raise StageFailed(f'tools/benchmark.py wrote no {e} (its output '
                          'format changed?)') from None
    ctx.metrics.setdefault('benchmarks', {})[precision] = entry


def epoch_run(check: 'Check', ctx: StageContext) -> None:
    """One MNIST epoch through tools/train.py with the GPU-resident data
    path, run as the reproduction runs are (a one-epoch schedule): the
    epoch's wall time, and the overhead of a run (start-up, loading the
    data, validation, checkpoint)."""
    work_dir = check.work_dir / 'epoch'
    result = ctx.command([sys.executable, 'tools/train.py',
                          epochs_config(check, 'epoch', 'capsnet',
                                        [CAPSNET_CONFIG], 1),
                          '--work-dir', work_dir])
    scalars = read_scalars(work_dir)
    times = epoch_times(scalars)
    if len(times) != 1:
        raise StageFailed(f'found {len(times)} epoch times in the log')
    ctx.metrics['epoch'] = dict(
        epoch_s=times[0], run_s=result.seconds,
        overhead_s=result.seconds - times[0],
        accuracy=accuracy(scalars))
    check.epoch_estimate = ctx.metrics['epoch']


def stage_reproduction(check: 'Check', ctx: StageContext) -> None:
    """Stage 6: the paper's CapsNet for the epochs that fit, then the
    baseline CNN on the same schedule if it still fits."""
    estimate = check.epoch_estimate
    if estimate is None:
        raise StageSkipped('no epoch time from the speed stage to plan '
                           'the schedule with')
    # Room to write the results after the run.
    margin = 10.0
    capsnet = train_for_budget(check, ctx, 'capsnet', [CAPSNET_CONFIG],
                               estimate, ctx.left() - margin)
    cnn_needed = estimate['overhead_s'] + capsnet['epochs'] * estimate[
        'epoch_s']
    if ctx.left() - margin < cnn_needed:
        ctx.metrics['cnn'] = dict(
            skipped=f'{capsnet["epochs"]} CNN epochs need ~{cnn_needed:.0f} '
            f's (estimated with the CapsNet epoch), '
            f'{ctx.left() - margin:.0f} s left')
        ctx.note(ctx.metrics['cnn']['skipped'])
        return
    train_for_budget(check, ctx, 'cnn', CNN_BASES, estimate,
                     ctx.left() - margin, epochs=capsnet['epochs'])


def train_for_budget(check: 'Check', ctx: StageContext, name: str,
                     bases, estimate: dict, seconds: float,
                     epochs: Optional[int] = None) -> dict:
    """Train ``bases`` for ``epochs`` epochs, by default as many as fit in
    ``seconds`` at the estimated epoch time and overhead, then validate on
    the MNIST test set; record the test error in ``ctx.metrics[name]``."""
    if epochs is None:
        # 5 % to spare: the estimate is one epoch's time.
        epochs = min(check.sizes.max_epochs, int(
            (seconds - estimate['overhead_s']) //
            (1.05 * estimate['epoch_s'])))
    if epochs < 1:
        raise StageSkipped(
            f'{seconds:.0f} s left: less than one epoch '
            f'({estimate["epoch_s"]:.1f} s) plus the overhead of a run '
            f'({estimate["overhead_s"]:.1f} s)')
    work_dir = check.work_dir / f'reproduction_{name}'
    config = epochs_config(check, f'reproduction_{name}', name, bases,
                           epochs)
    entry = ctx.metrics[name] = dict(
        epochs=epochs, schedule=f'Adam lr 1e-3, cosine to 0 over {epochs} '
        'epochs (per iteration)', planned_s=estimate['overhead_s'] +
        epochs * estimate['epoch_s'])
    result = ctx.command([sys.executable, 'tools/train.py', config,
                          '--work-dir', work_dir], check=False)
    scalars = read_scalars(work_dir)
    times = epoch_times(scalars)
    top1 = accuracy(scalars)
    entry.update(run_s=result.seconds, epochs_done=len(times),
                 mean_epoch_s=sum(times) / len(times) if times else None,
                 accuracy=top1,
                 test_error=None if top1 is None else 100.0 - top1)
    if result.timed_out or result.rc != 0:
        raise StageFailed(
            f'{name}: ' + ('killed at the budget after '
                           f'{len(times)}/{epochs} epochs' if result.timed_out
                           else last_error(result.output)))
    return entry


def epochs_config(check: 'Check', name: str, model: str, bases,
                  epochs: int) -> Path:
    """Config ``name``: ``bases`` (a ``model``, ``'capsnet'`` or
    ``'cnn'``) trained for ``epochs`` epochs with the lr cosine-annealed to
    zero, validated after the last, each epoch's time logged."""
    return check.write_config(name, model, bases, cosine_schedule(epochs),
                              epoch_timing(check.sizes.log_interval))


STAGES = (
    Stage('environment', 'Environment', 60, 10, stage_environment),
    Stage('cuda_tests', 'CUDA correctness tests', 180, 30, stage_cuda_tests),
    Stage('amp_train', 'tools/train.py --amp', 90, 30, stage_amp_train),
    Stage('distributed_resume', 'torchrun + mid-epoch resume', 150, 45,
          stage_distributed_resume),
    Stage('speed', 'Speed', 180, 60, stage_speed),
    # Whatever time is left.
    Stage('reproduction', 'Reproduction on full MNIST', math.inf, 60,
          stage_reproduction),
)


class Check:
    """One run of the check: its options, environment, stages and
    results."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.start = time.monotonic()
        self.deadline = self.start + args.budget
        self.sizes = DRY_SIZES if args.dry_run else GPU_SIZES
        self.device = 'cpu' if args.dry_run else 'cuda'
        self.out = Path(args.out).resolve()
        self.logs = self.out / 'logs'
        self.logs.mkdir(parents=True, exist_ok=True)
        self.work_dir = Path(args.work_dir or REPO / 'work_dirs' / 'gpu_check'
                             / time.strftime('%Y%m%d_%H%M%S')).resolve()
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.env = dict(os.environ, PYTHONUNBUFFERED='1', PYTHONPATH=(
            os.pathsep.join(p for p in (str(REPO),
                                        os.environ.get('PYTHONPATH')) if p)))
        if args.dry_run:
            # Every stage on the CPU, also on a machine with a GPU.
            self.env['CUDA_VISIBLE_DEVICES'] = ''
        self.data_root, self.check_md5 = self.data_root_and_md5()
        # What stages learn for later ones.
        self.gpus = 0
        self.fatal: Optional[str] = None
        self.no_data: Optional[str] = None
        self.epoch_estimate: Optional[dict] = None
        self.child: Optional[subprocess.Popen] = None
        self.results = dict(
            tool='tools/gpu_check.py',
            command=shlex.join([Path(sys.executable).name, *sys.argv]),
            dry_run=args.dry_run, budget_s=args.budget,
            sizes=asdict(self.sizes),
            started=datetime.datetime.now().isoformat(timespec='seconds'),
            out=str(self.out), work_dir=str(self.work_dir), stages={})

    def data_root_and_md5(self):
        """The MNIST folder and whether its MD5s can be checked: the given
        one, or in a dry run without ``--data-root`` the work dir's folder
        for the tiny synthetic MNIST that the environment stage writes."""
        if self.args.data_root is not None:
            return Path(self.args.data_root).resolve(), True
        if self.args.dry_run:
            return self.work_dir / 'tiny_mnist', False
        return REPO / 'data' / 'mnist', True

    def data_files(self) -> Dict[str, Optional[int]]:
        """Each MNIST file's size in bytes (.gz, else gunzipped), None
        where missing."""
        sizes = {}
        for name in MNIST_FILES:
            found = [p for p in (self.data_root / f'{name}.gz',
                                 self.data_root / name) if p.is_file()]
            sizes[name] = found[0].stat().st_size if found else None
        return sizes

    def write_config(self, name: str, model: str, bases, *overrides: dict,
                     **dataset_options) -> Path:
        """Write the config of run ``name`` to the work dir: ``bases`` on
        this check's MNIST files and batch size (``dataset_options`` added
        to the training dataset, e.g. ``indices``), in a dry run with the
        tiny version of ``model`` (``'capsnet'`` or ``'cnn'``), then
        ``overrides``."""
        data = dict(data_root=str(self.data_root), check_md5=self.check_md5)
        loaders = dict(
            train_dataloader=dict(
                batch_size=self.sizes.batch_size,
                dataset=dict(dataset=dict(data, **dataset_options))),
            val_dataloader=dict(dataset=dict(dataset=data)),
            test_dataloader=dict(dataset=data))
        path = self.work_dir / 'configs' / f'{name}.py'
        path.parent.mkdir(exist_ok=True)
        path.write_text(config_text(
            bases, loaders, DRY_MODELS[model] if self.args.dry_run else {},
            *overrides))
        return path

    def left(self) -> float:
        """Seconds left of the whole run's budget."""
        return self.deadline - time.monotonic()

    def run(self) -> int:
        """Run the stages; 0 if none failed."""
        # The environment stage always runs: the others need what it finds.
        selected = {'environment', *(self.args.stages or
                                     [s.name for s in STAGES])}
        for index, stage in enumerate(STAGES, 1):
            if stage.name in selected:
                self.run_stage(index, stage)
        self.results['finished'] = datetime.datetime.now().isoformat(
            timespec='seconds')
        self.save()
        failed = [n for n, s in self.results['stages'].items()
                  if s['status'] in ('failed', 'error')]
        print(f'results: {self.out / "summary.md"}'
              + (f'; failed: {", ".join(failed)}' if failed else ''))
        return 1 if failed else 0

    def run_stage(self, index: int, stage: Stage) -> None:
        """Run stage number ``index`` (or skip it, saying why), its results
        saved before it starts and after it ends."""
        log = self.logs / f'{index}_{stage.name}.log'
        log.write_text(f'# {index}. {stage.title}\n')
        deadline = min(time.monotonic() + stage.budget_s, self.deadline)
        ctx = StageContext(self, log, deadline)
        record = dict(title=stage.title, status='running',
                      budget_s=stage.budget_s
                      if math.isfinite(stage.budget_s) else None,
                      log=str(log.relative_to(self.out)), metrics=ctx.metrics,
                      commands=ctx.commands)
        self.results['stages'][stage.name] = record
        self.save()
        start = time.monotonic()
        try:
            self.check_prerequisites(stage)
            if self.left() < stage.min_s:
                raise StageSkipped(f'needs at least {stage.min_s:.0f} s, '
                                   f'{max(self.left(), 0):.0f} s left of '
                                   f'the {self.args.budget:.0f} s budget')
            stage.run(self, ctx)
            record['status'] = 'passed'
        except StageSkipped as e:
            record.update(status='skipped', reason=str(e))
        except StageFailed as e:
            record.update(status='failed', reason=str(e))
        except Exception as e:  # a bug of the check: keep going
            ctx.note(traceback.format_exc())
            record.update(status='error', reason=f'{type(e).__name__}: {e}')
        record['seconds'] = round(time.monotonic() - start, 1)
        if record.get('reason'):
            ctx.note(f"\n{record['status']}: {record['reason']}")
        if stage.name == 'environment' and record['status'] == 'skipped':
            self.fatal = ('the environment stage was skipped: '
                          f"{record['reason']}")
        print(f"[{index}/{len(STAGES)}] {stage.name}: {record['status']} "
              f"in {record['seconds']:.1f} s"
              + (f" ({record['reason']})" if record.get('reason') else '')
              + f' | {stage_result(stage.name, record)}', flush=True)
        self.save()

    def check_prerequisites(self, stage: Stage) -> None:
        """Skip ``stage`` if what it needs is missing."""
        if stage.name == 'environment':
            return
        if self.fatal:
            raise StageSkipped(self.fatal)
        if stage.name != 'cuda_tests' and self.no_data:
            raise StageSkipped(self.no_data)

    def save(self) -> None:
        """Write results.json and summary.md as they stand."""
        self.results['elapsed_s'] = round(time.monotonic() - self.start, 1)
        self.results['goals'] = goals(self.results)
        atomic_write(self.out / 'results.json',
                     json.dumps(self.results, indent=2) + '\n')
        atomic_write(self.out / 'summary.md', summary(self.results))


# Reporting.


def fmt(value, digits: int = 1, unit: str = '') -> str:
    """A number for the summary (``-`` for none)."""
    if value is None:
        return '-'
    if isinstance(value, float):
        return f'{value:,.{digits}f}{unit}'
    return f'{value}{unit}'


def fmt_rate(value: float) -> str:
    """Images or samples a second: thousands separated, three significant
    digits below 100."""
    return f'{value:,.0f}' if value >= 100 else f'{value:.3g}'


def goals(results: dict) -> List[dict]:
    """The issue's goals against what this run measured."""
    stages = results['stages']
    speed = stages.get('speed', {}).get('metrics', {})
    epoch = speed.get('epoch', {}).get('epoch_s')
    ratio = speed.get('benchmarks', {}).get('bf16', {}).get(
        'step_over_floor')
    repro = stages.get('reproduction', {}).get('metrics', {}).get(
        'capsnet', {})
    error = repro.get('test_error')
    rows = [
        dict(goal='one MNIST epoch end to end (GPU-resident data)',
             target=f'< {EPOCH_GOAL_S:g} s', measured=fmt(epoch, 2, ' s'),
             met=None if epoch is None else epoch < EPOCH_GOAL_S),
        dict(goal='training step / conv-only floor, batch 128, bf16',
             target=f'<= {FLOOR_GOAL:g}x', measured=fmt(ratio, 2, 'x'),
             met=None if ratio is None else ratio <= FLOOR_GOAL),
        dict(goal='paper CapsNet test error on MNIST',
             target=f'<= {ERROR_GOAL:.2f} % if the schedule fits',
             measured=(f'{error:.2f} % after {repro["epochs"]} epochs'
                       if error is not None else '-'),
             met=None if error is None else error <= ERROR_GOAL),
    ]
    if results['dry_run']:
        for row in rows:
            row['met'] = None
            row['note'] = 'not assessed: dry run on the CPU'
    return rows


def stage_result(name: str, record: dict) -> str:
    """One line of what a stage found, for the console and the table."""
    m = record['metrics']
    if name == 'environment' and 'torch' in m:
        gpu = (', '.join(f"{d['name']} ({d['memory_gib']} GiB)"
                         for d in m['devices']) or 'no GPU')
        return (f"{gpu}; torch {m['torch']}, CUDA {m['torch_cuda']}, "
                f"cuDNN {m['cudnn']}, Python {m['python']}")
    if name == 'cuda_tests' and 'passed' in m:
        return (f"{m['passed']} passed, {m['failed']} failed, "
                f"{m['skipped']} skipped, {m['error']} errors")
    if name == 'amp_train' and 'optim_wrapper' in m:
        return (f"{m['optim_wrapper']}, {m['iterations']} steps, loss "
                f"{fmt(m['first_loss'], 3)} -> {fmt(m['last_loss'], 3)}, "
                f"all finite: {m['all_finite']}, loss scale "
                f"{fmt(m.get('loss_scale'), 0)}")
    if name == 'distributed_resume' and 'weights_equal' in m:
        return (f"{m['processes']} x {m['backend']}; resumed at iteration "
                f"{m['checkpoint_iter']} of {m['last_iter']}: weights equal "
                f"{m['weights_equal']} (max diff {m['max_weight_diff']:.2e}), "
                f"optimizer {m['optimizer_equal']}, schedulers "
                f"{m['schedulers_equal']}")
    if name == 'speed':
        parts = []
        bf16 = m.get('benchmarks', {}).get('bf16')
        if bf16:
            parts.append(
                f"bf16 {fmt_rate(bf16['variants']['model']['images_per_s'])} "
                f"img/s, {bf16['step_over_floor']:.2f}x the conv floor")
        if 'epoch' in m:
            parts.append(f"epoch {m['epoch']['epoch_s']:.2f} s")
        return '; '.join(parts)
    if name == 'reproduction':
        parts = []
        for model in ('capsnet', 'cnn'):
            entry = m.get(model, {})
            if entry.get('test_error') is not None:
                parts.append(f"{model} {entry['test_error']:.2f} % after "
                             f"{entry['epochs']} epochs")
            elif 'skipped' in entry:
                parts.append(f'{model} skipped')
        return '; '.join(parts)
    return ''


def summary(results: dict) -> str:
    """The Markdown summary of ``results``."""
    env = results['stages'].get('environment', {}).get('metrics', {})
    gpu = ', '.join(d['name'] for d in env.get('devices', [])) or 'no GPU'
    title = 'dry run on the CPU' if results['dry_run'] else gpu
    git = env.get('git', {})
    lines = [
        f'# GPU check: {title}', '',
        f"Command: `{results['command']}`  ",
        f"Commit: {git.get('commit')}"
        f"{' (uncommitted changes)' if git.get('dirty') else ''}  ",
        f"Started {results['started']}; {results['elapsed_s']:.0f} s of "
        f"the {results['budget_s']:.0f} s budget"
        f"{'' if 'finished' in results else ' (still running or cut short)'}"
        '.', '',
        '| # | stage | status | time (budget) | result |',
        '| --- | --- | --- | --- | --- |'
    ]
    for index, (name, record) in enumerate(results['stages'].items(), 1):
        budget = fmt(record['budget_s'], 0, ' s') if record[
            'budget_s'] else 'rest'
        result = stage_result(name, record)
        if record.get('reason'):
            result = f"{record['reason']}" + (f'; {result}' if result
                                              else '')
        lines.append(f"| {index} | {record['title']} | {record['status']} "
                     f"| {fmt(record.get('seconds'), 0, ' s')} ({budget}) "
                     f"| {result.replace('|', '/')} |")
    lines += ['', '## Goals', '', '| goal | target | measured | met |',
              '| --- | --- | --- | --- |']
    for row in results['goals']:
        met = {True: 'yes', False: 'no', None: row.get('note', '-')}[
            row['met']]
        lines.append(f"| {row['goal']} | {row['target']} | "
                     f"{row['measured']} | {met} |")
    speed = results['stages'].get('speed', {}).get('metrics', {})
    lines += speed_tables(speed, results['sizes']['bench_batch_size'])
    repro = results['stages'].get('reproduction', {}).get('metrics', {})
    if repro:
        lines += ['', '## Reproduction', '',
                  '| model | epochs | schedule | run | mean epoch | test '
                  'error |', '| --- | --- | --- | --- | --- | --- |']
        for model, entry in repro.items():
            if 'skipped' in entry:
                lines.append(f"| {model} | skipped: {entry['skipped']} "
                             '| | | | |')
                continue
            lines.append(
                f"| {model} | {entry['epochs_done']}/{entry['epochs']} | "
                f"{entry['schedule']} | {fmt(entry.get('run_s'), 0, ' s')} "
                f"| {fmt(entry.get('mean_epoch_s'), 2, ' s')} | "
                f"{fmt(entry.get('test_error'), 2, ' %')} |")
    lines += ['', 'Logs: `logs/` (one a stage); all numbers: '
              '`results.json`.', '']
    return '\n'.join(lines)


def speed_tables(speed: dict, batch_size: int) -> List[str]:
    """The summary's speed sections."""
    benchmarks = speed.get('benchmarks', {})
    lines = []
    precisions = [p for p in ('fp32', 'tf32', 'bf16') if p in benchmarks]
    if precisions:
        lines += [
            '', '## Speed (paper CapsNet, training step at batch '
            f'{batch_size})',
            '', '| precision | model img/s | conv floor img/s | '
            'straightforward img/s | step / floor | speed-up over '
            'straightforward | peak MiB (model / floor / straightforward) |',
            '| --- | --- | --- | --- | --- | --- | --- |'
        ]
        for p in precisions:
            v = benchmarks[p]['variants']
            peaks = ' / '.join(fmt(v[k].get('peak_mib'), 0)
                               for k in ('model', 'conv_floor', 'naive'))
            lines.append(
                f"| {p} | {fmt_rate(v['model']['images_per_s'])} | "
                f"{fmt_rate(v['conv_floor']['images_per_s'])} | "
                f"{fmt_rate(v['naive']['images_per_s'])} | "
                f"{benchmarks[p]['step_over_floor']:.2f}x | "
                f"{benchmarks[p]['speedup_over_naive']:.2f}x | {peaks} |")
        if 'data_samples_per_s' in benchmarks.get('bf16', {}):
            b = benchmarks['bf16']
            lines += ['', f"Data path (InMemoryDataset + batch-wise shift): "
                      f"{fmt_rate(b['data_samples_per_s'])} samples/s = "
                      f"{b['data_over_model']:.1f}x the bf16 model's "
                      'images/s.']
    if 'routings' in benchmarks.get('bf16', {}):
        lines += ['', '## Routings (model step, bf16, the same rounds)', '',
                  '| config | img/s | ms/step | peak MiB |',
                  '| --- | --- | --- | --- |']
        for config, e in benchmarks['bf16']['routings'].items():
            lines.append(f"| {config} | {fmt_rate(e['images_per_s'])} | "
                         f"{e['ms_per_step']:.2f} | "
                         f"{fmt(e.get('peak_mib'), 0)} |")
    if 'epoch' in speed:
        e = speed['epoch']
        lines += ['', f"One MNIST epoch end to end: {e['epoch_s']:.2f} s "
                  f"(the run: {e['run_s']:.1f} s with start-up, data "
                  f"loading, validation; top-1 after it "
                  f"{fmt(e['accuracy'], 2, ' %')})."]
    return lines


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument('--out', required=True,
                        help='folder for results.json, summary.md, logs/')
    parser.add_argument(
        '--work-dir',
        help='folder for the runs: configs, checkpoints, their own logs '
        '(default: work_dirs/gpu_check/<date>_<time>)')
    parser.add_argument(
        '--data-root',
        help='folder with the four MNIST IDX files, .gz or gunzipped '
        '(default: data/mnist; a dry run without it writes a tiny '
        'synthetic MNIST)')
    parser.add_argument('--budget', type=float, default=480,
                        help='wall-time budget in seconds (default: 480)')
    parser.add_argument('--dry-run', action='store_true',
                        help='every stage on the CPU with a handful of steps')
    parser.add_argument(
        '--stages', nargs='+', choices=[s.name for s in STAGES[1:]],
        help='run only these stages after the environment stage (default: '
        'all); without the speed stage the reproduction has no epoch time '
        'to plan with and is skipped')
    args = parser.parse_args(argv)
    if args.budget <= 0:
        parser.error(f'--budget must be positive, got {args.budget}')
    return args


def main() -> None:
    check = Check(parse_args())

    def interrupted(signum, frame):
        if check.child is not None:
            kill_group(check.child)
        raise KeyboardInterrupt(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, interrupted)
    try:
        sys.exit(check.run())
    except KeyboardInterrupt as e:
        for record in check.results['stages'].values():
            if record['status'] == 'running':
                record.update(status='interrupted',
                              reason=f'{e or "SIGINT"} during the stage')
        check.results['interrupted'] = str(e) or 'SIGINT'
        check.save()
        sys.exit(130)


if __name__ == '__main__':
    main()
