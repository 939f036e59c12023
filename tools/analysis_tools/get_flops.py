"""Parameters and multiply-adds of a config's model for one input image.

mmengine's jit FLOP counter (fvcore's convention) counts one multiply-add as
one "flop"; element-wise operations (squash, softmax) are not counted.
Routings written as custom autograd functions, which the tracer cannot see
inside, are counted by their handles (``mmcaps.models.routings
.FLOP_HANDLES``).
"""
import argparse

import torch
import torch.nn as nn
from mmengine.analysis import FlopAnalyzer
from mmengine.config import Config, DictAction
from mmpretrain.registry import MODELS

import mmcaps  # noqa: F401  registers mmcaps' modules
from mmcaps.models.routings import FLOP_HANDLES


class _TensorMode(nn.Module):
    """Trace the classifier's inference path (backbone, neck, head)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x, mode='tensor')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        '--shape', type=int, nargs=3, metavar=('C', 'H', 'W'),
        help="input image shape (default: the config's input_shape, else "
        '1 28 28)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args()

    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    shape = tuple(args.shape or cfg.get('input_shape', (1, 28, 28)))
    model = MODELS.build(cfg.model).eval()
    inputs = torch.rand(1, *shape)
    analyzer = FlopAnalyzer(_TensorMode(model), (inputs, ))
    analyzer.set_op_handle(**FLOP_HANDLES)
    analyzer.unsupported_ops_warnings(False)
    macs = int(analyzer.total())
    params = sum(p.numel() for p in model.parameters())
    print(f'config: {args.config}')
    print(f'input shape: {shape}')
    print(f'parameters: {params:,}')
    print(f'multiply-adds (inference): {macs:,} ({macs / 1e9:.3f} G)')


if __name__ == '__main__':
    main()
