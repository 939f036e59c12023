"""Classify an image file with an mmcaps model (mmpretrain's
demo/image_demo.py, with mmcaps' models registered).

    python demo/image_demo.py digit.png efficient-capsnet_1xb16-30e_mnist
    python demo/image_demo.py digit.png CONFIG.py --checkpoint CKPT.pth

Prints the predicted class and its score; for a capsule model the score is
the class capsule's length (in [0, 1), not a softmax probability), and
``--topk 2`` gives the two digits of a MultiMNIST image.
"""
from argparse import ArgumentParser

import mmengine
import torch
from mmpretrain import ImageClassificationInferencer

from mmcaps.utils import load_model_weights  # also registers mmcaps


def parse_args():
    parser = ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('img', help='image file (PNG, JPEG, ...)')
    parser.add_argument('model', help='model name or config file')
    parser.add_argument(
        '--checkpoint',
        help='checkpoint file; by default the model\'s shipped weights')
    parser.add_argument(
        '--topk', type=int, default=1,
        help='print the k highest scores (2 for MultiMNIST)')
    parser.add_argument(
        '--show', action='store_true', help='show the prediction in a window')
    parser.add_argument(
        '--show-dir', help='draw the prediction into this folder')
    parser.add_argument('--device', help='e.g. cpu or cuda:0')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    # A checkpoint of the user's must fit the model exactly; the shipped
    # weights are checked against their metafile's SHA-256 instead.
    inferencer = ImageClassificationInferencer(
        args.model, pretrained=not args.checkpoint, device=args.device)
    if args.checkpoint:
        load_model_weights(inferencer.model, args.checkpoint)
    result = inferencer(args.img, show=args.show, show_dir=args.show_dir)[0]
    scores = torch.as_tensor(result.pop('pred_scores'))
    if args.topk > 1:
        top = scores.topk(min(args.topk, scores.numel()))
        classes = inferencer.classes
        result['topk'] = [
            dict(label=int(i), score=float(s),
                 **({'class': classes[i]} if classes else {}))
            for s, i in zip(top.values.tolist(), top.indices.tolist())
        ]
    print(mmengine.dump(result, file_format='json', indent=4))


if __name__ == '__main__':
    main()
