"""What the tools in ``tools/visualization`` share: their command line,
and the reconstruction drawing of two of them."""
import argparse
from typing import List, Optional

from mmengine.config import DictAction

from .figures import reconstruction_figure
from .image import write_png
from .inference import (capsule_outputs, load_model, load_samples,
                        reconstruct_top, require_reconstruction, sample_labels)

__all__ = ['draw_reconstructions', 'vis_tool_parser']


def vis_tool_parser(description: Optional[str], checkpoint_help: str,
                    default_out: str) -> argparse.ArgumentParser:
    """A parser with what every visualization tool takes: the config, the
    checkpoint, ``--out``, ``--device`` and ``--cfg-options``; each tool
    adds its own options."""
    parser = argparse.ArgumentParser(
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help=checkpoint_help)
    parser.add_argument('--out', default=default_out,
                        help='PNG file to write')
    parser.add_argument('--device', default='cpu',
                        help='device to run the model on')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value pairs')
    return parser


def reconstructions_parser(description: Optional[str],
                           default_out: str) -> argparse.ArgumentParser:
    """The command line of ``vis_reconstructions.py`` and
    ``vis_multimnist.py``, which differ in their help and default output
    file."""
    parser = vis_tool_parser(
        description, 'checkpoint of a CapsNet with a reconstruction decoder',
        default_out)
    parser.add_argument('--num', type=int, default=16,
                        help='number of test samples drawn')
    parser.add_argument('--start', type=int, default=0,
                        help='index of the first test sample')
    parser.add_argument('--top', type=int,
                        help='capsules decoded per sample, longest first '
                        "(default: the head's num_predictions)")
    parser.add_argument('--cols', type=int, default=4, help='tiles per row')
    parser.add_argument('--scale', type=int, default=4,
                        help='pixels per image pixel')
    return parser


def draw_reconstructions(argv: Optional[List[str]] = None,
                         description: Optional[str] = None,
                         default_out: str = 'reconstructions.png') -> None:
    """Draw test inputs next to the images decoded from their predicted
    class capsules and write the PNG (see the tools' help)."""
    args = reconstructions_parser(description, default_out).parse_args(argv)
    model = load_model(args.config, args.checkpoint, args.device,
                       args.cfg_options)
    require_reconstruction(model, 'vis_reconstructions')
    top = args.top or model.head.num_predictions
    batch = load_samples(model._config, args.start, args.num)
    outputs = capsule_outputs(model, batch)
    preds, recons = reconstruct_top(model, outputs.capsules, top)
    figure = reconstruction_figure(outputs.images, recons,
                                   sample_labels(batch), preds.tolist(),
                                   args.cols, args.scale)
    write_png(args.out, figure)
    print(f'wrote {args.out} ({figure.shape[1]}x{figure.shape[0]}, '
          f'{len(preds)} samples)')
