"""Make a training checkpoint a release checkpoint (mmpretrain's
publish_model.py for mmcaps): keep the weights and the dataset's class
names, drop the optimizer state, the scheduler and message hub states and
the training config, optionally the reconstruction decoder, and put the
date and the first 8 hex digits of the file's SHA-256 in its name.

    python tools/model_converters/publish_model.py \\
        work_dirs/efficient-capsnet_1xb16-30e_mnist/epoch_30.pth \\
        mmcaps/checkpoints/efficient-capsnet_1xb16-30e_mnist.pth --drop-decoder

writes mmcaps/checkpoints/efficient-capsnet_1xb16-30e_mnist_YYYYMMDD-<sha8>.pth
and prints the two metafile lines that publish it.
"""
import argparse
import datetime
import os
import os.path as osp
import tempfile
from typing import Dict, Optional

import torch
from mmengine.runner.checkpoint import CheckpointLoader

import mmcaps
from mmcaps.apis.model_zoo import (CHECKPOINT_ROOT, DECODER_PREFIX,
                                   SHA256_KEY, SHIPPED_PREFIX, sha256sum)
from mmcaps.utils.fileio import fsync_dir

# What a release checkpoint's meta keeps: the class names (get_model and
# the inferencers read them) and where in training it was taken.
KEPT_META = ('dataset_meta', 'epoch', 'iter', 'mmengine_version')


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Strip a training checkpoint for release')
    parser.add_argument('in_file', help='the training checkpoint')
    parser.add_argument(
        'out_file',
        help='the release file name, NAME.pth: written as '
        'NAME_YYYYMMDD-<sha256[:8]>.pth')
    parser.add_argument(
        '--drop-decoder', action='store_true',
        help='leave out the reconstruction decoder (head.decoder.*): '
        'enough for predictions, not for reconstructions')
    return parser.parse_args()


def strip_checkpoint(checkpoint: Dict, drop_decoder: bool = False) -> Dict:
    """The release form of a training checkpoint.

    Args:
        checkpoint: An mmengine checkpoint (``state_dict``, ``meta``, ...).
        drop_decoder: Leave out the ``head.decoder.*`` weights.

    Returns:
        ``{'state_dict': ..., 'meta': ...}`` with the meta of
        :data:`KEPT_META` and ``mmcaps_version``.

    Raises:
        ValueError: No ``state_dict``, or ``drop_decoder`` on a checkpoint
            without decoder weights.
    """
    if 'state_dict' not in checkpoint:
        raise ValueError('not an mmengine checkpoint: no state_dict (keys: '
                         f'{sorted(checkpoint)})')
    state_dict = checkpoint['state_dict']
    if drop_decoder:
        kept = {k: v for k, v in state_dict.items()
                if not k.startswith(DECODER_PREFIX)}
        if len(kept) == len(state_dict):
            raise ValueError(f'--drop-decoder: the checkpoint has no '
                             f'{DECODER_PREFIX}* weights')
        state_dict = kept
    meta = {k: v for k, v in checkpoint.get('meta', {}).items()
            if k in KEPT_META}
    meta['mmcaps_version'] = mmcaps.__version__
    return dict(state_dict=state_dict, meta=meta)


def publish(in_file: str, out_file: str, drop_decoder: bool = False,
            date: Optional[str] = None) -> str:
    """Write the release form of ``in_file`` as
    ``<out_file stem>_<date>-<sha256[:8]>.pth``.

    Args:
        in_file: The training checkpoint, loaded by mmengine's (safe)
            checkpoint loader.
        out_file: ``NAME.pth``.
        drop_decoder: See :func:`strip_checkpoint`.
        date: ``YYYYMMDD``, today by default.

    Returns:
        The path written.
    """
    if not out_file.endswith('.pth'):
        raise ValueError(f'out_file must end in .pth, got {out_file}')
    checkpoint = CheckpointLoader.load_checkpoint(in_file,
                                                  map_location='cpu')
    release = strip_checkpoint(checkpoint, drop_decoder)
    out_dir = osp.dirname(osp.abspath(out_file))
    os.makedirs(out_dir, exist_ok=True)
    # Written under a temporary name and renamed once its hash is known:
    # no half-written file ever carries a release name.
    fd, tmp = tempfile.mkstemp(suffix='.pth', dir=out_dir)
    os.close(fd)
    try:
        torch.save(release, tmp)
        with open(tmp, 'rb+') as f:
            os.fsync(f.fileno())
        # mkstemp makes the file private; a release is as readable as any
        # file the user creates.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        sha = sha256sum(tmp)
        date = date or datetime.date.today().strftime('%Y%m%d')
        final = f'{out_file[:-len(".pth")]}_{date}-{sha[:8]}.pth'
        os.replace(tmp, final)
        fsync_dir(out_dir)
    except BaseException:
        os.remove(tmp)
        raise
    return final


def main() -> None:
    args = parse_args()
    final = publish(args.in_file, args.out_file, args.drop_decoder)
    size = osp.getsize(final) / 2**20
    shipped = osp.dirname(osp.abspath(final)) == str(CHECKPOINT_ROOT)
    weights = (SHIPPED_PREFIX + osp.basename(final) if shipped else
               'null  # not shipped: give the command that reproduces it '
               'in the README')
    print(f'{final}: {size:.2f} MiB')
    print("The model's entry in its configs/*/metafile.yml:")
    print(f'    Weights: {weights}')
    print('  and in its Metadata:')
    print(f'      {SHA256_KEY}: {sha256sum(final)}')


if __name__ == '__main__':
    main()
