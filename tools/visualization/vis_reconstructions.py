"""Draw test inputs next to the images decoded from their class capsules.

Each tile shows, left, the input and, right, the decoder's reconstruction
from the predicted class's capsule alone (the others masked), as at test
time. With several predictions per image (MultiMNIST, ``--top 2``, the
head's ``num_predictions`` by default) each predicted capsule is decoded
alone and the reconstructions are overlaid, the longest capsule's in red,
the second's in green (overlaps come out yellow): the paper's Figure 5.
Under each tile the true and predicted classes, in red when they differ.

Tiles are 4 pixels apart: the PNG is ``cols * (2 * W * scale + 4) - 4`` by
``rows * (H * scale + 14 + 4) - 4`` pixels for ``H x W`` inputs and
``rows = ceil(num / cols)``.

Example (MNIST)::

    python tools/visualization/vis_reconstructions.py \\
        configs/capsnet/capsnet_r3-recon_1xb64-1e_mnist.py \\
        work_dirs/capsnet_r3-recon_1xb64-1e_mnist/epoch_1.pth \\
        --out reconstructions.png \\
        --cfg-options test_dataloader.dataset.data_root=data/mnist
"""
import argparse
from typing import List, Optional

from mmengine.config import DictAction

from mmcaps.visualization import (capsule_outputs, load_model, load_samples,
                                  reconstruct_top, reconstruction_figure,
                                  require_reconstruction, sample_labels,
                                  write_png)


def parse_args(argv: Optional[List[str]] = None,
               description: str = __doc__,
               default_out: str = 'reconstructions.png') -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint of a CapsNet with '
                        'a reconstruction decoder')
    parser.add_argument('--out', default=default_out,
                        help='PNG file to write')
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
    parser.add_argument('--device', default='cpu',
                        help='device to run the model on')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value pairs')
    return parser.parse_args(argv)


def main(args: Optional[argparse.Namespace] = None) -> None:
    args = args or parse_args()
    model = load_model(args.config, args.checkpoint, args.device,
                       args.cfg_options)
    require_reconstruction(model, 'vis_reconstructions')
    top = args.top or getattr(model.head, 'num_predictions', 1)
    batch = load_samples(model._config, args.start, args.num)
    outputs = capsule_outputs(model, batch)
    preds, recons = reconstruct_top(model, outputs.capsules, top)
    figure = reconstruction_figure(outputs.images, recons,
                                   sample_labels(batch), preds.tolist(),
                                   args.cols, args.scale)
    write_png(args.out, figure)
    print(f'wrote {args.out} ({figure.shape[1]}x{figure.shape[0]}, '
          f'{len(preds)} samples)')


if __name__ == '__main__':
    main()
