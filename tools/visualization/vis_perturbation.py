"""What the dimensions of a class capsule encode (the paper's Figure 4).

For each drawn test sample, the capsule of its true class (``--capsule
pred``: the predicted class) is decoded with one of its ``D`` dimensions
shifted by each value of ``-range, -range + step, ..., range`` (the paper:
0.25 and 0.05, 11 values) while the others keep their values. One block per
sample: rows are the dimensions, columns the shifts (the middle column, 0,
is the plain reconstruction); blocks side by side, 16 pixels apart.

Each block is ``24 + S * W * scale`` pixels wide and the PNG
``28 + D * H * scale`` high for ``S`` shifts and ``H x W`` images.

Example::

    python tools/visualization/vis_perturbation.py \\
        configs/capsnet/capsnet_r3-recon_1xb64-1e_mnist.py \\
        work_dirs/capsnet_r3-recon_1xb64-1e_mnist/epoch_1.pth \\
        --num 3 --out perturbation.png \\
        --cfg-options test_dataloader.dataset.data_root=data/mnist
"""
import argparse

import torch

from mmcaps.models import capsule_length
from mmcaps.visualization import (capsule_outputs, load_model, load_samples,
                                  perturbation_figure, perturbation_values,
                                  perturbed_reconstructions,
                                  require_reconstruction, sample_labels,
                                  vis_tool_parser, write_png)


def parse_args() -> argparse.Namespace:
    parser = vis_tool_parser(
        __doc__, 'checkpoint of a CapsNet with a reconstruction decoder',
        'perturbation.png')
    parser.add_argument('--num', type=int, default=3,
                        help='number of test samples drawn')
    parser.add_argument('--start', type=int, default=0,
                        help='index of the first test sample')
    parser.add_argument('--capsule', choices=['gt', 'pred'], default='gt',
                        help='perturb the capsule of the true (gt) or the '
                        'predicted (pred) class')
    parser.add_argument('--range', type=float, default=0.25,
                        help='largest shift of a dimension')
    parser.add_argument('--step', type=float, default=0.05,
                        help='difference between neighbouring shifts')
    parser.add_argument('--scale', type=int, default=2,
                        help='pixels per image pixel')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    values = perturbation_values(args.range, args.step)
    model = load_model(args.config, args.checkpoint, args.device,
                       args.cfg_options)
    require_reconstruction(model, 'vis_perturbation')
    batch = load_samples(model._config, args.start, args.num)
    capsules = capsule_outputs(model, batch).capsules
    preds = capsule_length(capsules).argmax(dim=1).tolist()
    # The first class of a sample with several (MultiMNIST).
    gts = [labels[0] for labels in sample_labels(batch)]
    classes = gts if args.capsule == 'gt' else preds
    recons = torch.stack([
        perturbed_reconstructions(model, sample, label, values)
        for sample, label in zip(capsules, classes)
    ])
    titles = [
        f'#{args.start + i}: gt {gt} pred {pred}, {args.capsule} capsule'
        for i, (gt, pred) in enumerate(zip(gts, preds))
    ]
    figure = perturbation_figure(recons, values, titles, args.scale)
    write_png(args.out, figure)
    print(f'wrote {args.out} ({figure.shape[1]}x{figure.shape[0]}, '
          f'{len(titles)} samples x {recons.shape[1]} dimensions x '
          f'{len(values)} shifts)')


if __name__ == '__main__':
    main()
