"""Where a sample's primary capsules send their output: the coupling
coefficients ``c_ij`` of the final routing iteration.

For one test sample, each class capsule ``j`` gets a heat map of
``c_ij`` over the input capsules ``i`` laid out on the primary-capsule grid
(``T`` types x ``H' x W'``; 32 x 6 x 6 for the paper's MNIST model):
``--reduce mean`` (default) averages the ``T`` types into one ``H' x W'``
map per class, ``--reduce types`` draws the ``T`` maps of each class in
rows of ``--type-cols``. The softmax of dynamic routing runs over the
classes, so a position whose capsules mostly agree with the predicted class
stands out in that class's map. Works for any routing whose ``forward``
returns the coupling with ``return_coupling=True``.

Layout: the input (``--scale`` px per pixel) with its labels, one tile
per class in rows of ``--cols`` captioned with the capsule's length (the
predicted class in yellow), and the colour scale: the smallest to the
largest coefficient drawn (after routing they often stay within a few
hundredths of uniform, ``1 / K``), or ``--vmin`` to ``--vmax``.

Example::

    python tools/visualization/vis_coupling.py \\
        configs/capsnet/capsnet_r3-recon_1xb64-1e_mnist.py \\
        work_dirs/capsnet_r3-recon_1xb64-1e_mnist/epoch_1.pth \\
        --index 0 --out coupling.png \\
        --cfg-options test_dataloader.dataset.data_root=data/mnist
"""
import argparse

from mmcaps.models import capsule_length
from mmcaps.visualization import (capsule_outputs, coupling_figure,
                                  coupling_maps, load_model, load_samples,
                                  sample_labels, vis_tool_parser, write_png)


def parse_args() -> argparse.Namespace:
    parser = vis_tool_parser(__doc__, 'checkpoint of a capsule model',
                             'coupling.png')
    parser.add_argument('--index', type=int, default=0,
                        help='index of the test sample')
    parser.add_argument('--reduce', choices=['mean', 'types'],
                        default='mean',
                        help='average the capsule types into one map per '
                        'class (mean) or draw one map per type (types)')
    parser.add_argument('--cols', type=int, default=5,
                        help='class tiles per row')
    parser.add_argument('--type-cols', type=int, default=8,
                        help='type maps per row within a class tile')
    parser.add_argument('--cell', type=int,
                        help='pixels per grid cell (default: 16 for '
                        '--reduce mean, 4 for types)')
    parser.add_argument('--scale', type=int, default=4,
                        help='pixels per input pixel')
    parser.add_argument('--vmin', type=float,
                        help='coefficient of the bottom colour (default: '
                        'the smallest drawn)')
    parser.add_argument('--vmax', type=float,
                        help='coefficient of the top colour (default: the '
                        'largest drawn); fix both to compare figures')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    model = load_model(args.config, args.checkpoint, args.device,
                       args.cfg_options)
    batch = load_samples(model._config, args.index, 1)
    outputs = capsule_outputs(model, batch, return_coupling=True)
    if outputs.grid is None:
        raise ValueError(
            f'vis_coupling: the {outputs.primary.shape[1]} input capsules of '
            'the class-capsule layer do not come from one PrimaryCaps '
            'layer, so there is no grid to lay them out on')
    maps = coupling_maps(outputs.coupling[0], outputs.grid, args.reduce)
    lengths = capsule_length(outputs.capsules[0]).tolist()
    pred = max(range(len(lengths)), key=lengths.__getitem__)
    gt = ','.join(map(str, sample_labels(batch)[0]))
    cell = args.cell or (16 if args.reduce == 'mean' else 4)
    figure = coupling_figure(
        outputs.images[0],
        maps,
        lengths,
        f'#{args.index}: gt {gt} pred {pred}',
        cols=args.cols,
        cell=cell,
        scale=args.scale,
        type_cols=args.type_cols,
        vmin=args.vmin,
        vmax=args.vmax)
    write_png(args.out, figure)
    types, height, width = outputs.grid
    print(f'wrote {args.out} ({figure.shape[1]}x{figure.shape[0]}, '
          f'{len(lengths)} classes x {types} types x {height}x{width} grid, '
          f'coefficients {float(maps.min()):.4f} to {float(maps.max()):.4f})')


if __name__ == '__main__':
    main()
