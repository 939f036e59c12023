"""Evaluate a checkpoint on a config's test set (mmpretrain's test.py, with
mmcaps' modules registered): metrics, predictions dumped to .pkl or .json,
and drawn predictions."""
import argparse
import os.path as osp

import mmengine
from mmengine.config import Config
from mmengine.dist import is_main_process
from mmengine.runner import Runner

from mmcaps.evaluation import DumpPredictions
# Importing mmcaps registers its modules.
from mmcaps.utils import (end_distributed_run, load_model_weights,
                          setup_cpu_distributed)
from mmcaps.utils.tool_args import merge_args, parse_tool_args


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test a checkpoint')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--work-dir', help='the dir to save the evaluation results and logs')
    parser.add_argument(
        '--out',
        help='write the predictions (or, with --out-item metrics, the '
        'metrics) to this .pkl, .pickle or .json file')
    parser.add_argument(
        '--out-item',
        choices=['pred', 'metrics'],
        default='pred',
        help='what --out holds: one dict per test sample (default) or the '
        'metrics')
    parser.add_argument(
        '--show-dir',
        help='draw each predicted image (every --interval-th) into this '
        'folder')
    parser.add_argument(
        '--show', action='store_true',
        help='show each drawn prediction in a window')
    parser.add_argument(
        '--interval', type=int, default=1,
        help='draw every this many test samples')
    parser.add_argument(
        '--wait-time', type=float, default=2,
        help='seconds each --show window stays open')
    args = parse_tool_args(parser)
    if args.out is not None and not args.out.endswith(
            ('.pkl', '.pickle', '.json')):
        parser.error(f'--out must name a .pkl, .pickle or .json file, got '
                     f'{args.out}')
    return args


def main() -> None:
    args = parse_args()
    cfg = merge_args(Config.fromfile(args.config), args)
    # Loaded into the built model below, strictly: the Runner's load_from
    # only warns about weights that do not fit the model.
    checkpoint, cfg.load_from = cfg.load_from, None
    setup_cpu_distributed(cfg)
    runner = Runner.from_cfg(cfg)
    load_model_weights(runner.model, checkpoint)
    if args.out is not None:
        mmengine.mkdir_or_exist(osp.dirname(osp.abspath(args.out)))
    if args.out is not None and args.out_item == 'pred':
        runner.test_evaluator.metrics.append(
            DumpPredictions(out_file_path=args.out))
    metrics = runner.test()
    if (args.out is not None and args.out_item == 'metrics'
            and is_main_process()):
        mmengine.dump(metrics, args.out)
    end_distributed_run()


if __name__ == '__main__':
    main()
