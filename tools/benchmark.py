r"""Time a training step of a config's model against its floor, its trunk
and its baseline.

In one run, interleaved so that the machine's noise hits all alike, this
times a full training step (forward, losses, backward, Adam step) of the
variants of a config's model:

- ``model``: the config's model as mmcaps builds it;
- ``naive``: the same model with its capsule layer replaced by the
  straightforward formulation of public ports (``NaiveCapsuleLayer``: W
  expanded over the batch + broadcast matmul, routing as broadcast
  multiply-and-sum, gradients through every iteration; dynamic routing
  with one W per capsule only);
- ``conv_floor``: the backbone and neck alone (the model without its
  head, e.g. Conv1 + PrimaryCaps for the paper's CapsNet) with a trivial
  loss, the mean of their outputs: the floor a capsule model's step cannot
  beat;
- ``trunk``: the backbone with global average pooling and a linear layer
  over the head's classes, cross-entropy loss: the trunk a capsule head
  sits on, with the usual head (its linear twin);

and reports images/s (median step time after warm-up), the peak memory that
training steps add to the built model and its optimizer state
(activations and gradients; CUDA: the allocator's peak; CPU: the peak of
the bytes torch allocates, from torch.profiler's allocation records; each
job in a fresh process) and the samples/s that the config's train
dataloader and data preprocessor deliver. Output: a table, and JSON with
``--out``.

``--num-classes K ...`` and ``--votes PATH ...`` sweep the ``model`` (and
``trunk``) jobs over head sizes and capsule-layer vote paths (``full``,
``lean``, ``auto``, see ``CapsuleLayer``): one ``model-k{K}-{path}`` job
each, one ``trunk-k{K}`` job per size, run right after that size's model
jobs in every round. With ``trunk`` among the variants the capsule part of
each model job, its step minus the trunk's of the same size, is reported:
in time the median over rounds of the differences within a round (steps
run minutes apart on a shared machine differ by more than the head
costs), in memory the difference of the peaks.

``--compare CONFIG ...`` adds the ``model`` step of further configs (other
routings, other models) to the same interleaved rounds, so that their
images/s are measured under the same noise as the first config's; the
``--cfg-options`` apply to every config.

Example::

    python tools/benchmark.py \
        configs/capsnet/capsnet_r3-recon_1xb128_mnist.py --batch-size 32 \
        --cfg-options train_dataloader.dataset.data_root=data/mnist

    python tools/benchmark.py \
        configs/capsule_heads/timm-resnet50_capsule-head_8xb32_in1k.py \
        --variants model trunk --num-classes 10 100 1000 --votes full lean \
        --batch-size 32 --warmup 1 --rounds 3 --steps 1 --data-batches 0
"""
import argparse
import concurrent.futures
import copy
import json
import multiprocessing
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import mmcaps  # noqa: F401  registers mmcaps' modules
from mmcaps.testing import NaiveCapsuleLayer
from mmcaps.utils import peak_cpu_allocated

VARIANTS = ('model', 'naive', 'conv_floor', 'trunk')
VOTES = ('full', 'lean', 'auto')


@dataclass
class Job:
    """One timed training step: ``variant`` of the model of ``config``,
    with ``overrides`` merged after ``--cfg-options``."""
    name: str
    config: str
    variant: str
    overrides: Dict[str, object] = field(default_factory=dict)
    num_classes: Optional[int] = None
    votes: Optional[str] = None
    compared: bool = False  # a --compare config's model


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument('config', help='config file path')
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument(
        '--shape', type=int, nargs=3, default=None, metavar=('C', 'H', 'W'),
        help="input image shape (default: the config's input_shape, else "
        '1 28 28)')
    parser.add_argument('--device', default=None,
                        help='cpu or cuda (default: cuda when available)')
    parser.add_argument('--amp', choices=['bf16', 'fp16'], default=None,
                        help='run forward passes under torch.autocast')
    parser.add_argument('--warmup', type=int, default=3,
                        help='untimed steps per job')
    parser.add_argument('--rounds', type=int, default=5,
                        help='rounds of timed steps, jobs interleaved')
    parser.add_argument('--steps', type=int, default=4,
                        help='timed steps per job and round')
    parser.add_argument('--data-batches', type=int, default=30,
                        help='batches to time the data path on (0: skip)')
    parser.add_argument('--no-memory', action='store_true',
                        help='skip the per-job memory measurement')
    parser.add_argument('--memory-steps', type=int, default=3,
                        help='training steps whose peak memory is measured')
    parser.add_argument('--out', help='write the results as JSON here')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    parser.add_argument(
        '--variants', nargs='+', choices=VARIANTS,
        default=['model', 'naive', 'conv_floor'],
        help='what to time (naive exists for DynamicRouting with one W per '
        'capsule only: leave it out otherwise; trunk needs a backbone that '
        'returns feature maps)')
    parser.add_argument(
        '--num-classes', type=int, nargs='+', metavar='K',
        help='time the model (and trunk) with a head of each of these '
        'class counts')
    parser.add_argument(
        '--votes', nargs='+', choices=VOTES,
        help="time the model with each of these capsule-layer vote paths "
        "(the head's votes argument)")
    parser.add_argument(
        '--compare', nargs='+', default=[], metavar='CONFIG',
        help='further configs whose model step is timed in the same '
        'interleaved rounds')
    return parser.parse_args(argv)


def make_jobs(args: argparse.Namespace) -> List[Job]:
    """The jobs to time: for each class count of ``--num-classes``, the
    ``model`` with each vote path of ``--votes``, then the ``trunk``; then
    the other variants of the first config and the ``--compare`` configs'
    models."""
    jobs: List[Job] = []
    for k in args.num_classes or [None]:
        if 'model' in args.variants:
            jobs += [_sized_job('model', args.config, k, v)
                     for v in args.votes or [None]]
        if 'trunk' in args.variants:
            jobs.append(_sized_job('trunk', args.config, k))
    jobs += [Job(variant, args.config, variant) for variant in args.variants
             if variant not in ('model', 'trunk')]
    for path in args.compare:
        if path in {job.name for job in jobs}:
            raise ValueError(f'--compare names {path} twice')
        jobs.append(Job(path, path, 'model', compared=True))
    return jobs


def _sized_job(variant: str, config: str, num_classes: Optional[int],
               votes: Optional[str] = None) -> Job:
    name, overrides = variant, {}
    if num_classes is not None:
        name += f'-k{num_classes}'
        overrides['model.head.num_classes'] = num_classes
        overrides['data_preprocessor.num_classes'] = num_classes
    if votes is not None:
        name += f'-{votes}'
        overrides['model.head.votes'] = votes
    return Job(name, config, variant, overrides, num_classes, votes)


def load_config(job: Job, args: argparse.Namespace) -> Config:
    cfg = Config.fromfile(job.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if job.overrides:
        cfg.merge_from_dict(job.overrides)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    return cfg


def get_device(args: argparse.Namespace) -> torch.device:
    return torch.device(
        args.device or ('cuda' if torch.cuda.is_available() else 'cpu'))


def build_model(cfg: Config, device: torch.device) -> nn.Module:
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.setdefault('data_preprocessor', cfg.get('data_preprocessor'))
    return MODELS.build(model_cfg).to(device).train()


def input_shape(cfg: Config, args: argparse.Namespace) -> Tuple[int, ...]:
    return tuple(args.shape or cfg.get('input_shape', (1, 28, 28)))


def make_batch(model: nn.Module, cfg: Config,
               args: argparse.Namespace) -> dict:
    """A preprocessed batch of random uint8 images and labels; for
    MultiMNIST configs, two different labels per sample and the two single
    digits to reconstruct."""
    shape = input_shape(cfg, args)
    num_classes = model.head.num_classes
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (args.batch_size, *shape),
                           generator=gen, dtype=torch.uint8)
    labels = torch.randint(0, num_classes, (args.batch_size, ),
                           generator=gen)
    if cfg.train_dataloader.dataset.get('type') == 'MultiMNIST':
        # The second label differs from the first, as in MultiMNIST.
        second = (labels + torch.randint(1, num_classes, labels.shape,
                                         generator=gen)) % num_classes
        samples = [
            DataSample(digit_images=torch.rand(
                2, *shape, generator=gen)).set_gt_label([int(a), int(b)])
            for a, b in zip(labels, second)
        ]
    else:
        samples = [DataSample().set_gt_label(int(y)) for y in labels]
    data = dict(inputs=list(images), data_samples=samples)
    return model.data_preprocessor(data, training=True)


class _Trunk(nn.Module):
    """A backbone's last feature map, global average pooling and a linear
    layer: ``(B, C, H, W) -> (B, num_classes)`` logits."""

    def __init__(self, backbone: nn.Module, channels: int,
                 num_classes: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.backbone(x)[-1].mean(dim=(2, 3)))


def _trunk(model: nn.Module, inputs: torch.Tensor) -> _Trunk:
    with torch.no_grad():
        feature = model.backbone(inputs[:1])[-1]
    if feature.dim() != 4:
        raise ValueError(
            'the trunk variant pools a backbone feature map (B, C, H, W); '
            f'this backbone returns {tuple(feature.shape)}')
    return _Trunk(model.backbone, feature.shape[1], model.head.num_classes)


def _loss_fn(job: Job, model: nn.Module, batch: dict
             ) -> Tuple[nn.Module, Callable[[], torch.Tensor]]:
    """The module that ``job`` trains and its loss."""
    inputs = batch['inputs']
    if job.variant == 'conv_floor':
        # The model without its head: backbone and neck.
        return model, lambda: sum(
            f.float().mean() for f in model.extract_feat(inputs))
    if job.variant == 'trunk':
        trunk = _trunk(model, inputs).to(inputs.device)
        labels = torch.cat([s.gt_label for s in batch['data_samples']
                            ]).to(inputs.device)
        return trunk, lambda: F.cross_entropy(trunk(inputs).float(), labels)
    if job.variant == 'naive':
        model.head.capsules = NaiveCapsuleLayer(model.head.capsules).to(
            inputs.device)

    def loss() -> torch.Tensor:
        losses = model(**batch, mode='loss')
        return sum(v for k, v in losses.items() if 'loss' in k)

    return model, loss


def build_step(job: Job, cfg: Config, args: argparse.Namespace,
               device: torch.device) -> Callable[[], None]:
    """A closure that runs one training step of ``job``."""
    model = build_model(cfg, device)
    module, loss_fn = _loss_fn(job, model, make_batch(model, cfg, args))
    # Parameters outside what the loss reaches (the head, for the floor)
    # get no gradient, which Adam skips.
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-3)
    amp_dtype = {'bf16': torch.bfloat16, 'fp16': torch.float16,
                 None: None}[args.amp]

    def step() -> None:
        with torch.autocast(device.type, dtype=amp_dtype,
                            enabled=amp_dtype is not None):
            loss = loss_fn()
        loss.backward()
        optimizer.step()
        # Freed now, not at the next step: the other jobs' steps run in
        # between.
        optimizer.zero_grad(set_to_none=True)

    return step


def sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def time_steps(jobs: List[Job], args: argparse.Namespace,
               device: torch.device) -> Dict[str, List[float]]:
    """Step times of each job, the jobs interleaved round by round."""
    steps = {
        job.name: build_step(job, load_config(job, args), args, device)
        for job in jobs
    }
    for step in steps.values():
        for _ in range(args.warmup):
            step()
    times: Dict[str, List[float]] = {name: [] for name in steps}
    for _ in range(args.rounds):
        for name, step in steps.items():
            for _ in range(args.steps):
                sync(device)
                start = time.perf_counter()
                step()
                sync(device)
                times[name].append(time.perf_counter() - start)
    return times


def peak_memory_mib(job: Job, args: argparse.Namespace) -> float:
    """Peak MiB that ``--memory-steps`` training steps of ``job`` add to
    its built model and optimizer state (one step runs first, unmeasured,
    to create Adam's state, whose one-off allocation would otherwise be
    the peak of models with small activations): on CUDA the allocator's
    peak, on the CPU :func:`~mmcaps.utils.peak_cpu_allocated` (torch's
    allocation records, not the process's RSS, which depends on what the
    C allocator keeps). Run it in a fresh process
    (:func:`peak_memory_in_fresh_process`), so that no other job's tensors
    or caches are around."""
    device = get_device(args)
    step = build_step(job, load_config(job, args), args, device)
    step()

    def steps() -> None:
        for _ in range(args.memory_steps):
            step()

    if device.type == 'cuda':
        sync(device)
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        steps()
        sync(device)
        return (torch.cuda.max_memory_allocated(device) - base) / 2**20
    return peak_cpu_allocated(steps) / 2**20


def peak_memory_in_fresh_process(job: Job, args: argparse.Namespace
                                 ) -> float:
    """:func:`peak_memory_mib` in a new (spawned) interpreter."""
    context = multiprocessing.get_context('spawn')
    with concurrent.futures.ProcessPoolExecutor(
            max_workers=1, mp_context=context) as pool:
        return pool.submit(peak_memory_mib, job, args).result()


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


def step_entries(jobs: List[Job], times: Dict[str, List[float]],
                 args: argparse.Namespace) -> Dict[str, dict]:
    """Per job: median ms per step, images/s, every timed step's ms in
    round order, and with memory the peak MiB."""
    entries = {}
    for job in jobs:
        median = statistics.median(times[job.name])
        entries[job.name] = dict(
            ms_per_step=median * 1e3,
            images_per_s=args.batch_size / median,
            timed_steps=len(times[job.name]),
            step_ms=[t * 1e3 for t in times[job.name]])
        if job.num_classes is not None:
            entries[job.name]['num_classes'] = job.num_classes
        if job.votes is not None:
            entries[job.name]['votes'] = job.votes
        if not args.no_memory:
            entries[job.name]['peak_mib'] = peak_memory_in_fresh_process(
                job, args)
    return entries


def capsule_parts(jobs: List[Job], entries: Dict[str, dict],
                  steps_per_round: int) -> dict:
    """Each model job's step minus the trunk job's of the same class count:
    what the capsule neck and head add. Time: the median over rounds of
    the difference of the two jobs' mean step in the round (also given per
    round), and that over the trunk's median step; memory: the difference
    of the peaks."""
    trunks = {job.num_classes: job.name for job in jobs
              if job.variant == 'trunk'}
    parts = {}
    for job in jobs:
        if (job.variant != 'model' or job.compared
                or job.num_classes not in trunks):
            continue
        model, trunk = entries[job.name], entries[trunks[job.num_classes]]
        rounds = [
            statistics.mean(m) - statistics.mean(t) for m, t in zip(
                _by_round(model['step_ms'], steps_per_round),
                _by_round(trunk['step_ms'], steps_per_round))
        ]
        ms = statistics.median(rounds)
        part = dict(trunk=trunks[job.num_classes], ms_per_step=ms,
                    time_over_trunk=ms / trunk['ms_per_step'],
                    round_ms=rounds)
        if 'peak_mib' in model:
            part['peak_mib'] = model['peak_mib'] - trunk['peak_mib']
        parts[job.name] = part
    return parts


def _by_round(step_ms: List[float], steps: int) -> List[List[float]]:
    return [step_ms[i:i + steps] for i in range(0, len(step_ms), steps)]


def lean_memory_savings(jobs: List[Job], parts: dict) -> Dict[str, float]:
    """Per class count: the full path's capsule-part peak memory over the
    lean path's."""
    by_size = {}
    for job in jobs:
        if job.name in parts and 'peak_mib' in parts[job.name]:
            by_size.setdefault(job.num_classes, {})[job.votes] = parts[
                job.name]['peak_mib']
    return {
        f'k{k}': paths['full'] / paths['lean']
        for k, paths in by_size.items() if {'full', 'lean'} <= set(paths)
    }


def summarize(jobs: List[Job], entries: Dict[str, dict],
              args: argparse.Namespace, device: torch.device) -> dict:
    """The results: each job's entry and the ratios between them."""
    first = [job.name for job in jobs if not job.compared]
    results = dict(
        config=args.config,
        device=torch.cuda.get_device_name(device)
        if device.type == 'cuda' else f'cpu ({torch.get_num_threads()} '
        'threads)',
        torch=torch.__version__,
        batch_size=args.batch_size,
        amp=args.amp,
        command=' '.join([os.path.basename(sys.executable), *sys.argv]),
        variants={name: entries[name] for name in first})
    if args.compare:
        results['compare'] = {path: entries[path] for path in args.compare}
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
    parts = capsule_parts(jobs, entries, args.steps)
    if parts:
        results['capsule_part'] = parts
        savings = lean_memory_savings(jobs, parts)
        if savings:
            results['full_over_lean_memory'] = savings
    return results


def print_report(results: dict, args: argparse.Namespace) -> None:
    print(f"{results['config']}  batch {args.batch_size}  "
          f"{results['device']}  amp={args.amp}")
    rows = dict(results['variants'])
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
        print(f"{name:<{width}}{entry['images_per_s']:>10.1f}"
              f"{entry['ms_per_step']:>10.1f}"
              f"{_mib(entry.get('peak_mib')):>10}")
    if 'capsule_part' in results:
        print('capsule part (model step - trunk step, median over rounds):')
        print(f"{'model':<{width}}{'ms/step':>10}{'x trunk':>10}"
              f"{'peak MiB':>10}")
        for name, part in results['capsule_part'].items():
            print(f"{name:<{width}}{part['ms_per_step']:>10.1f}"
                  f"{part['time_over_trunk']:>10.3f}"
                  f"{_mib(part.get('peak_mib')):>10}")
    for size, ratio in results.get('full_over_lean_memory', {}).items():
        print(f'{size}: capsule-part peak memory full / lean = {ratio:.1f}x')
    if 'step_over_floor' in results:
        print(f"step / conv floor: {results['step_over_floor']:.3f}x")
    if 'speedup_over_naive' in results:
        print('speed-up over naive: '
              f"{results['speedup_over_naive']:.2f}x")
    if 'data_samples_per_s' in results:
        print(f"data path: {results['data_samples_per_s']:.0f} samples/s "
              f"= {results['data_over_model']:.1f}x the model's images/s")


def _mib(value: Optional[float]) -> str:
    return '-' if value is None else f'{value:.0f}'


def main() -> None:
    args = parse_args()
    device = get_device(args)
    jobs = make_jobs(args)
    times = time_steps(jobs, args, device)
    results = summarize(jobs, step_entries(jobs, times, args), args, device)
    if args.data_batches > 0 and 'model' in results['variants']:
        cfg = load_config(Job('model', args.config, 'model'), args)
        results['data_samples_per_s'] = time_data_path(cfg, args, device)
        results['data_over_model'] = (
            results['data_samples_per_s'] /
            results['variants']['model']['images_per_s'])
    print_report(results, args)
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(results, f, indent=2)


if __name__ == '__main__':
    main()
