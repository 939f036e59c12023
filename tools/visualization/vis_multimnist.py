"""Draw MultiMNIST inputs with their two reconstructions (the paper's
Figure 5).

Each tile shows, left, the input overlay (grey) and, right, the decoder's
reconstructions from the two longest class capsules, the longest in red
and the second in green (overlaps come out yellow); under them the true
labels and the predicted ones (red when the pair is wrong). The tiles are
``H * scale`` pixels high, so the PNG is
``cols * 2 * W * scale`` by ``rows * (H * scale + 14)`` pixels.

Example::

    python tools/visualization/vis_multimnist.py \\
        configs/multimnist/capsnet_r3-recon_1xb128_multimnist.py \\
        work_dirs/capsnet_r3-recon_1xb128_multimnist/epoch_1.pth \\
        --out multimnist.png --cfg-options \\
        test_dataloader.dataset.dataset.data_root=../shared/data/mnist
"""
import argparse
import math
from typing import List, Sequence

import numpy as np
import torch
from mmengine.config import Config, DictAction
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint
from mmpretrain.registry import DATASETS, MODELS
from PIL import Image, ImageDraw

import mmcaps  # noqa: F401  registers mmcaps' modules

TEXT_HEIGHT = 14


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint of a CapsNet with '
                        'a reconstruction decoder')
    parser.add_argument('--out', default='multimnist.png',
                        help='PNG file to write')
    parser.add_argument('--num', type=int, default=16,
                        help='number of test samples drawn')
    parser.add_argument('--start', type=int, default=0,
                        help='index of the first test sample')
    parser.add_argument('--cols', type=int, default=4, help='tiles per row')
    parser.add_argument('--scale', type=int, default=4,
                        help='pixels per image pixel')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args()


@torch.no_grad()
def predict_and_reconstruct(model: torch.nn.Module, batch: dict) -> tuple:
    """``(B, H, W)`` inputs in [0, 1], ``(B, 2)`` predicted classes
    (longest capsule first) and ``(B, 2, H, W)`` their reconstructions."""
    data = model.data_preprocessor(batch)
    capsules = model.head(model.extract_feat(data['inputs']))
    top2 = capsules.norm(dim=-1).topk(2, dim=1).indices
    recons = torch.stack(
        [model.head.reconstruct(capsules, top2[:, j]) for j in range(2)],
        dim=1)
    return (model.raw_images(data['inputs'])[:, 0], top2,
            recons[:, :, 0])


def draw_grid(inputs: np.ndarray, recons: np.ndarray,
              labels: Sequence[Sequence[int]], preds: np.ndarray, cols: int,
              scale: int) -> Image.Image:
    """The grid of tiles (see the module docstring) as an RGB image."""
    num, height, width = inputs.shape
    rows = math.ceil(num / cols)
    tile_w, tile_h = 2 * width * scale, height * scale + TEXT_HEIGHT
    grid = Image.new('RGB', (cols * tile_w, rows * tile_h))
    draw = ImageDraw.Draw(grid)
    for i in range(num):
        x, y = (i % cols) * tile_w, (i // cols) * tile_h
        grey = (inputs[i] * 255).round().astype(np.uint8)
        colour = np.zeros((height, width, 3), np.uint8)
        colour[..., 0] = (recons[i, 0] * 255).round().astype(np.uint8)
        colour[..., 1] = (recons[i, 1] * 255).round().astype(np.uint8)
        panels = np.concatenate([np.repeat(grey[..., None], 3, -1), colour],
                                axis=1)
        grid.paste(
            Image.fromarray(panels).resize((tile_w, height * scale),
                                           Image.NEAREST), (x, y))
        right = set(labels[i]) == set(preds[i].tolist())
        draw.text((x + 2, y + height * scale + 1),
                  f'gt {labels[i][0]},{labels[i][1]}  '
                  f'pred {preds[i][0]},{preds[i][1]}',
                  fill=(255, 255, 255) if right else (255, 64, 64))
    return grid


def main() -> None:
    args = parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    model_cfg = cfg.model.copy()
    model_cfg.setdefault('data_preprocessor', cfg.get('data_preprocessor'))
    model = MODELS.build(model_cfg)
    if not getattr(model.head, 'with_reconstruction', False):
        raise SystemExit(f'{args.config}: the head has no reconstruction '
                         'decoder, so there is nothing to draw')
    load_checkpoint(model, args.checkpoint, map_location='cpu')
    model.eval()
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    indices = range(args.start, min(args.start + args.num, len(dataset)))
    batch = pseudo_collate([dataset[i] for i in indices])
    labels: List[List[int]] = [
        s.gt_label.tolist() for s in batch['data_samples']
    ]
    inputs, preds, recons = predict_and_reconstruct(model, batch)
    grid = draw_grid(inputs.numpy(), recons.numpy(), labels, preds.numpy(),
                     args.cols, args.scale)
    grid.save(args.out)
    print(f'wrote {args.out} ({grid.width}x{grid.height}, '
          f'{len(labels)} samples)')


if __name__ == '__main__':
    main()
