"""Parameters and multiply-adds of a config's model for one input image.

mmengine's counter (fvcore's convention) counts one multiply-add as one
"flop"; element-wise operations (squash, softmax) are not counted. The
tracer cannot see inside routing modules (custom autograd functions): their
multiply-adds come from the modules' own ``multiply_adds``.
"""
import argparse

import torch
import torch.nn as nn
from mmengine.analysis import get_model_complexity_info
from mmengine.config import Config, DictAction
from mmpretrain.registry import MODELS

import mmcaps  # noqa: F401  registers mmcaps' modules
from mmcaps.models.utils import BaseRouting


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
        '--shape', type=int, nargs=3, default=[1, 28, 28],
        metavar=('C', 'H', 'W'), help='input image shape')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args()

    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    model = MODELS.build(cfg.model).eval()
    routing_macs = []
    for module in model.modules():
        if isinstance(module, BaseRouting):
            module.register_forward_hook(
                lambda m, inputs, _: routing_macs.append(
                    m.multiply_adds(inputs[0].shape)))
    inputs = torch.rand(1, *args.shape)
    info = get_model_complexity_info(
        _TensorMode(model), inputs=(inputs, ), show_table=False,
        show_arch=False)
    # The complexity counter runs the model several times: count one pass.
    routing_macs.clear()
    with torch.no_grad():
        model(inputs, mode='tensor')
    macs = info['flops'] + sum(routing_macs)
    params = sum(p.numel() for p in model.parameters())
    print(f'config: {args.config}')
    print(f'input shape: {tuple(args.shape)}')
    print(f'parameters: {params:,}')
    print(f'multiply-adds (inference): {macs:,} ({macs / 1e9:.3f} G)')


if __name__ == '__main__':
    main()
