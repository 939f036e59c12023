"""Command-line options of tools/train.py and tools/test.py folded into a
config: one path for both tools, so that an option means the same in each
and ``--cfg-options`` always has the last word."""
import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.device import get_device

__all__ = ['merge_args', 'parse_tool_args']

# The short edge, in pixels, that --show/--show-dir draw an image at: the
# datasets' 28x28 to 40x40 digits would leave no room for the labels.
SHOW_SIZE = 224


def parse_tool_args(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """Add the options every tool shares (``--cfg-options``,
    ``--launcher``, ``--local-rank``) to a tool's parser, parse the command
    line and export ``LOCAL_RANK`` for the launcher (unless torchrun did)."""
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value pairs, e.g. '
        'train_dataloader.dataset.data_root=data/mnist; applied after '
        'the other options')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def merge_args(cfg: Config, args: argparse.Namespace) -> Config:
    """Fold a tool's parsed command line into ``cfg``, in place.

    In this order: the launcher; the work dir (``--work-dir``, else the
    config's, else ``./work_dirs/<config name>``); for training, the
    plain checkpoint format (``PlainCheckpointHook`` as
    ``default_hooks.checkpoint_format`` unless the config sets one) and
    the options (``--amp``, ``--resume``, ``--no-validate``,
    ``--auto-scale-lr``), for testing the checkpoint, ``--show``,
    ``--show-dir``, ``--interval`` and ``--wait-time``, whichever the tool
    has; then ``--cfg-options``, which override all the others. A
    deterministic training run (``randomness.deterministic``) also sets
    ``CUBLAS_WORKSPACE_CONFIG``, which cuBLAS needs for it.

    Args:
        cfg: The config of ``args.config``.
        args: The tool's options; an option the tool lacks is skipped.

    Returns:
        ``cfg``.
    """
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])

    if getattr(args, 'amp', False):
        if get_device() == 'cpu':
            # mmengine's AmpOptimWrapper needs a GPU; bfloat16 needs no
            # loss scaling, so autocast alone does it on CPUs.
            cfg.optim_wrapper.type = 'AutocastOptimWrapper'
            cfg.optim_wrapper.dtype = 'bfloat16'
            cfg.optim_wrapper.pop('loss_scale', None)
        else:
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')

    if hasattr(args, 'resume'):
        # Whatever runtime the config inherits (mmpretrain's own, say), a
        # training run of ours writes checkpoints that load without trust.
        if cfg.get('default_hooks') is None:
            cfg.default_hooks = {}
        cfg.default_hooks.setdefault('checkpoint_format',
                                     dict(type='PlainCheckpointHook'))

    resume = getattr(args, 'resume', None)
    if resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif resume is not None:
        cfg.resume = True
        cfg.load_from = resume

    if getattr(args, 'no_validate', False):
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None

    if getattr(args, 'auto_scale_lr', False):
        cfg.auto_scale_lr.enable = True

    if getattr(args, 'checkpoint', None) is not None:
        cfg.load_from = args.checkpoint

    if getattr(args, 'show', False) or getattr(args, 'show_dir', None):
        visualization = cfg.default_hooks.get('visualization')
        if visualization is None:
            raise ValueError(
                f'{args.config} has no default_hooks.visualization: add '
                "visualization=dict(type='VisualizationHook') to "
                'default_hooks for --show / --show-dir')
        visualization.update(
            enable=True,
            show=args.show,
            wait_time=args.wait_time,
            out_dir=args.show_dir,
            interval=args.interval)
        visualization.setdefault('resize', SHOW_SIZE)

    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if hasattr(args, 'resume') and cfg.get('randomness', {}).get(
            'deterministic', False):
        # cuBLAS refuses deterministic mode without a fixed workspace; it
        # reads the variable when CUDA starts, before the Runner exists.
        os.environ.setdefault('CUBLAS_WORKSPACE_CONFIG', ':4096:8')
    return cfg
