"""Parameters and multiply-adds of a config's model for one input image.

mmengine's counter (fvcore's convention) counts one multiply-add as one
"flop"; element-wise operations (squash, softmax) are not counted. The
tracer cannot see inside routings written as custom autograd functions
(``DynamicRouting``): for a routing that the tracer counts as 0 on its own,
its multiply-adds come from its ``multiply_adds``.
"""
import argparse

import torch
import torch.nn as nn
from mmengine.analysis import get_model_complexity_info
from mmengine.config import Config, DictAction
from mmpretrain.registry import MODELS

import mmcaps  # noqa: F401  registers mmcaps' modules
from mmcaps.models.utils import BaseRouting


class _Call(nn.Module):
    """Trace one module called with fixed keyword arguments."""

    def __init__(self, module: nn.Module, kwargs: dict) -> None:
        super().__init__()
        self.module = module
        self.kwargs = kwargs

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        return self.module(*args, **self.kwargs)


def _opaque_routing_macs(calls: list) -> int:
    """Multiply-adds of the routing calls that the tracer cannot see."""
    total = 0
    for module, args, kwargs in calls:
        traced = get_model_complexity_info(
            _Call(module, kwargs), inputs=args, show_table=False,
            show_arch=False)['flops']
        if traced == 0:
            total += module.multiply_adds(args[0].shape)
    return total


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
    routing_calls = []
    for module in model.modules():
        if isinstance(module, BaseRouting):
            module.register_forward_hook(
                lambda m, args, kwargs, _: routing_calls.append(
                    (m, args, kwargs)),
                with_kwargs=True)
    inputs = torch.rand(1, *args.shape)
    info = get_model_complexity_info(
        _TensorMode(model), inputs=(inputs, ), show_table=False,
        show_arch=False)
    # The complexity counter runs the model several times: count one pass.
    routing_calls.clear()
    with torch.no_grad():
        model(inputs, mode='tensor')
    calls, routing_calls[:] = list(routing_calls), []
    macs = info['flops'] + _opaque_routing_macs(calls)
    params = sum(p.numel() for p in model.parameters())
    print(f'config: {args.config}')
    print(f'input shape: {tuple(args.shape)}')
    print(f'parameters: {params:,}')
    print(f'multiply-adds (inference): {macs:,} ({macs / 1e9:.3f} G)')


if __name__ == '__main__':
    main()
