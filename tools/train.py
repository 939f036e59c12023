"""Train a model from an OpenMMLab config (mmpretrain's train.py, with
mmcaps' modules registered)."""
import argparse

from mmengine.config import Config
from mmengine.runner import Runner

# Importing mmcaps registers its modules.
from mmcaps.utils import end_distributed_run, setup_cpu_distributed
from mmcaps.utils.tool_args import merge_args, parse_tool_args


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from the given checkpoint, or, without a path, from the '
        'latest checkpoint in the work dir')
    parser.add_argument(
        '--amp', action='store_true',
        help='enable automatic mixed precision training: float16 with '
        'dynamic loss scaling on GPUs, bfloat16 autocast on CPUs')
    parser.add_argument(
        '--no-validate', action='store_true',
        help='do not evaluate checkpoints during training')
    parser.add_argument(
        '--auto-scale-lr', action='store_true',
        help='scale the learning rate with the total batch size')
    args = parse_tool_args(parser)
    return args


def main() -> None:
    args = parse_args()
    cfg = merge_args(Config.fromfile(args.config), args)
    setup_cpu_distributed(cfg)
    runner = Runner.from_cfg(cfg)
    runner.train()
    end_distributed_run()


if __name__ == '__main__':
    main()
