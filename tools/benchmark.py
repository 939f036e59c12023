"""Time a training step of a config's model against its floor and baseline.

In one run, interleaved so that the machine's noise hits all alike, this
times a full training step (forward, losses, backward, optimizer step) of

- ``model``: the config's model as mmcaps builds it;
- ``naive``: the same model with its capsule layer replaced by the
  straightforward formulation of public ports (``NaiveCapsuleLayer``: W
  expanded over the batch + broadcast matmul, routing as broadcast
  multiply-and-sum, gradients through every iteration);
- ``conv_floor``: the backbone's convolutions alone (Conv1 + PrimaryCaps
  forward and backward, Adam on their parameters), which a CapsNet step
  cannot beat;

and reports images/s (median step time after warm-up), the peak memory that
training steps add to the built model (activations, gradients, optimizer
state; CUDA: allocator peak; CPU: the kernel's peak RSS, in a fresh process
per variant) and the samples/s that the config's train dataloader and data
preprocessor deliver. Output: a table, and JSON with ``--out``.

``--compare CONFIG ...`` adds the ``model`` step of further configs (other
routings, other models) to the same interleaved rounds, so that their
images/s are measured under the same noise as the first config's; the
``--cfg-options`` apply to every config.

Example::

    python tools/benchmark.py \
        configs/capsnet/capsnet_r3-recon_1xb128_mnist.py --batch-size 32 \
        --cfg-options train_dataloader.dataset.data_root=../shared/data/mnist

    python tools/benchmark.py \
        configs/capsnet/capsnet_r3-recon_1xb128_mnist.py --variants model \
        --compare configs/capsnet/capsnet_em-recon_1xb128_mnist.py \
        configs/capsnet/capsnet_selfattn-recon_1xb128_mnist.py
"""
import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Callable, Dict, List, Tuple

import torch
import torch.nn as nn
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import mmcaps  # noqa: F401  registers mmcaps' modules
from mmcaps.testing import NaiveCapsuleLayer

VARIANTS = ('model', 'naive', 'conv_floor')


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument('config', help='config file path')
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument(
        '--shape', type=int, nargs=3, default=[1, 28, 28],
        metavar=('C', 'H', 'W'), help='input image shape')
    parser.add_argument('--device', default=None,
                        help='cpu or cuda (default: cuda when available)')
    parser.add_argument('--amp', choices=['bf16', 'fp16'], default=None,
                        help='run forward passes under torch.autocast')
    parser.add_argument('--warmup', type=int, default=3,
                        help='untimed steps per variant')
    parser.add_argument('--rounds', type=int, default=5,
                        help='rounds of timed steps, variants interleaved')
    parser.add_argument('--steps', type=int, default=4,
                        help='timed steps per variant and round')
    parser.add_argument('--data-batches', type=int, default=30,
                        help='batches to time the data path on (0: skip)')
    parser.add_argument('--no-memory', action='store_true',
                        help='skip the per-variant memory measurement')
    parser.add_argument('--out', help='write the results as JSON here')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    parser.add_argument(
        '--variants', nargs='+', choices=VARIANTS, default=list(VARIANTS),
        help='what to time (naive exists for DynamicRouting only: leave it '
        'out for other routings)')
    parser.add_argument(
        '--compare', nargs='+', default=[], metavar='CONFIG',
        help='further configs whose model step is timed in the same '
        'interleaved rounds')
    parser.add_argument('--memory-of', choices=VARIANTS,
                        help=argparse.SUPPRESS)
    parser.add_argument('--memory-config', help=argparse.SUPPRESS)
    return parser.parse_args()


def load_config(path: str, args: argparse.Namespace) -> Config:
    cfg = Config.fromfile(path)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    return cfg


def build_model(cfg: Config, device: torch.device) -> nn.Module:
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.setdefault('data_preprocessor', cfg.get('data_preprocessor'))
    return MODELS.build(model_cfg).to(device).train()


def make_batch(model: nn.Module, args: argparse.Namespace,
               num_classes: int, two_digit: bool = False) -> dict:
    """A preprocessed batch of random uint8 images and labels; with
    ``two_digit``, MultiMNIST samples: two different labels and the two
    single digits to reconstruct."""
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (args.batch_size, *args.shape),
                           generator=gen, dtype=torch.uint8)
    labels = torch.randint(0, num_classes, (args.batch_size, ),
                           generator=gen)
    if two_digit:
        # The second label differs from the first, as in MultiMNIST.
        second = (labels + torch.randint(1, num_classes, labels.shape,
                                         generator=gen)) % num_classes
        samples = [
            DataSample(digit_images=torch.rand(
                2, *args.shape, generator=gen)).set_gt_label([int(a), int(b)])
            for a, b in zip(labels, second)
        ]
    else:
        samples = [DataSample().set_gt_label(int(y)) for y in labels]
    data = dict(inputs=list(images), data_samples=samples)
    return model.data_preprocessor(data, training=True)


class _ConvFloor(nn.Module):
    """Conv1 + ReLU + the PrimaryCaps convolution of a CapsNet backbone."""

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.conv1 = backbone.conv1
        self.relu = backbone.relu
        self.conv2 = backbone.primary_caps.conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.relu(self.conv1(x)))


def build_step(variant: str, cfg: Config, args: argparse.Namespace,
               device: torch.device) -> Callable[[], None]:
    """A closure that runs one training step of ``variant``."""
    model = build_model(cfg, device)
    batch = make_batch(
        model, args, model.head.num_classes,
        cfg.train_dataloader.dataset.get('type') == 'MultiMNIST')
    if variant == 'naive':
        model.head.capsules = NaiveCapsuleLayer(model.head.capsules).to(
            device)
    if variant == 'conv_floor':
        module = _ConvFloor(model.backbone)
        inputs = batch['inputs']

        def loss_fn() -> torch.Tensor:
            return module(inputs).float().mean()
    else:
        module = model

        def loss_fn() -> torch.Tensor:
            losses = module(**batch, mode='loss')
            return sum(v for k, v in losses.items() if 'loss' in k)

    optimizer = torch.optim.Adam(module.parameters(), lr=1e-3)
    amp_dtype = {'bf16': torch.bfloat16, 'fp16': torch.float16,
                 None: None}[args.amp]

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=amp_dtype,
                            enabled=amp_dtype is not None):
            loss = loss_fn()
        loss.backward()
        optimizer.step()

    return step


def sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def time_steps(jobs: Dict[str, Tuple[str, Config]], args: argparse.Namespace,
               device: torch.device) -> Dict[str, List[float]]:
    """Step times of each job ``name: (variant, config)``, the jobs
    interleaved round by round."""
    steps = {
        name: build_step(variant, cfg, args, device)
        for name, (variant, cfg) in jobs.items()
    }
    for step in steps.values():
        for _ in range(args.warmup):
            step()
    times: Dict[str, List[float]] = {name: [] for name in jobs}
    for _ in range(args.rounds):
        for name, step in steps.items():
            for _ in range(args.steps):
                sync(device)
                start = time.perf_counter()
                step()
                sync(device)
                times[name].append(time.perf_counter() - start)
    return times


def _proc_status_mib(field: str) -> float:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f'no {field} in /proc/self/status')


def _reset_peak_rss() -> None:
    """Reset the kernel's peak-RSS mark (VmHWM) to the current RSS, so that
    the import and build peaks do not hide the steps' peak."""
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')


def memory_of(variant: str, cfg: Config, args: argparse.Namespace,
              device: torch.device) -> float:
    """Peak MiB that three training steps add to the built model."""
    step = build_step(variant, cfg, args, device)
    if device.type == 'cuda':
        sync(device)
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        for _ in range(3):
            step()
        sync(device)
        return (torch.cuda.max_memory_allocated(device) - base) / 2**20
    _reset_peak_rss()
    base = _proc_status_mib('VmRSS')
    for _ in range(3):
        step()
    return _proc_status_mib('VmHWM') - base


def memory_in_subprocess(variant: str, config: str) -> float:
    """CPU peak RSS is per process: measure each variant in a fresh one."""
    argv = [a for a in sys.argv[1:] if a != '--no-memory']
    proc = subprocess.run(
        [sys.executable, __file__, *argv, '--memory-of', variant,
         '--memory-config', config],
        capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])['peak_mib']


def time_data_path(cfg: Config, args: argparse.Namespace,
                   device: torch.device) -> float:
    """Samples/s delivered by the train dataloader + data preprocessor."""
    loader_cfg = copy.deepcopy(cfg.train_dataloader)
    loader_cfg.batch_size = args.batch_size
    loader = Runner.build_dataloader(loader_cfg, seed=0)
    preprocessor = build_model(cfg, device).data_preprocessor
    it = iter(loader)
    preprocessor(next(it), training=True)  # worker start-up is not timed
    count, start = 0, time.perf_counter()
    for _ in range(args.data_batches):
        try:
            batch = preprocessor(next(it), training=True)
        except StopIteration:
            break
        count += batch['inputs'].shape[0]
    sync(device)
    return count / (time.perf_counter() - start)


def main() -> None:
    args = parse_args()
    device = torch.device(
        args.device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    if args.memory_of is not None:
        cfg = load_config(args.memory_config or args.config, args)
        peak = memory_of(args.memory_of, cfg, args, device)
        print(json.dumps(dict(peak_mib=peak)))
        return

    cfg = load_config(args.config, args)
    jobs = {variant: (variant, cfg) for variant in args.variants}
    for path in args.compare:
        if path in jobs:
            raise ValueError(f'--compare names {path} twice')
        jobs[path] = ('model', load_config(path, args))
    times = time_steps(jobs, args, device)
    results = dict(
        config=args.config,
        device=torch.cuda.get_device_name(device)
        if device.type == 'cuda' else f'cpu ({torch.get_num_threads()} '
        'threads)',
        torch=torch.__version__,
        batch_size=args.batch_size,
        amp=args.amp,
        command=' '.join([os.path.basename(sys.executable), *sys.argv]),
        variants={})
    if args.compare:
        results['compare'] = {}
    for name, ts in times.items():
        variant, job_cfg = jobs[name]
        median = statistics.median(ts)
        entry = dict(ms_per_step=median * 1e3,
                     images_per_s=args.batch_size / median,
                     timed_steps=len(ts))
        if not args.no_memory:
            config = args.config if name in args.variants else name
            entry['peak_mib'] = (
                memory_of(variant, job_cfg, args, device)
                if device.type == 'cuda' else memory_in_subprocess(
                    variant, config))
        if name in args.variants:
            results['variants'][name] = entry
        else:
            results['compare'][name] = entry
    v = results['variants']
    if 'model' in v and 'conv_floor' in v:
        results['step_over_floor'] = (v['model']['ms_per_step'] /
                                      v['conv_floor']['ms_per_step'])
    if 'model' in v and 'naive' in v:
        results['speedup_over_naive'] = (v['naive']['ms_per_step'] /
                                         v['model']['ms_per_step'])
    if 'model' in v:
        for entry in results.get('compare', {}).values():
            entry['speed_over_first'] = (v['model']['ms_per_step'] /
                                         entry['ms_per_step'])
    if args.data_batches > 0 and 'model' in v:
        results['data_samples_per_s'] = time_data_path(cfg, args, device)
        results['data_over_model'] = (results['data_samples_per_s'] /
                                      v['model']['images_per_s'])

    print(f"{results['config']}  batch {args.batch_size}  "
          f"{results['device']}  amp={args.amp}")
    rows = dict(v)
    if args.compare and 'model' in rows:
        # Name the first config's model as the others are named.
        rows = {(os.path.splitext(os.path.basename(args.config))[0]
                 if name == 'model' else name): entry
                for name, entry in rows.items()}
    rows.update({
        os.path.splitext(os.path.basename(path))[0]: entry
        for path, entry in results.get('compare', {}).items()
    })
    width = max(12, *(len(name) + 2 for name in rows))
    print(f"{'variant':<{width}}{'images/s':>10}{'ms/step':>10}"
          f"{'peak MiB':>10}")
    for name, entry in rows.items():
        peak = entry.get('peak_mib')
        peak_str = f'{peak:>10.0f}' if peak is not None else f"{'-':>10}"
        print(f"{name:<{width}}{entry['images_per_s']:>10.1f}"
              f"{entry['ms_per_step']:>10.1f}{peak_str}")
    if 'step_over_floor' in results:
        print(f"step / conv floor: {results['step_over_floor']:.3f}x")
    if 'speedup_over_naive' in results:
        print('speed-up over naive: '
              f"{results['speedup_over_naive']:.2f}x")
    if 'data_samples_per_s' in results:
        print(f"data path: {results['data_samples_per_s']:.0f} samples/s "
              f"= {results['data_over_model']:.1f}x the model's images/s")
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(results, f, indent=2)


if __name__ == '__main__':
    main()
