"""tools/visualization/vis_{reconstructions,perturbation,coupling}.py on a
tiny CapsNet checkpoint: each writes a PNG of the documented size.

The three command lines run in one Python subprocess (each script as
``__main__`` with its own ``sys.argv``), so that mmcaps is imported once.
"""
import cv2
import numpy as np
import pytest
import torch
from conftest import run_in_repo, write_tiny_config
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS

from mmcaps.visualization import (capsule_outputs, coupling_figure,
                                  coupling_maps, load_model, load_samples,
                                  reconstruct_top, reconstruction_figure,
                                  sample_labels, to_rgb)

RUN_TOOLS = '''
import runpy
import sys

for argv in {runs!r}:
    sys.argv = argv
    runpy.run_path(argv[0], run_name='__main__')
'''
TOOLS = 'tools/visualization'
# The tiny test set has 20 images, 28x28; the tiny model 4-D class
# capsules and 2 primary-capsule types on a 6x6 grid.
RECONSTRUCTIONS = ['--num', '5', '--cols', '2', '--scale', '2']
PERTURBATION = [
    '--num', '2', '--start', '3', '--range', '0.1', '--step', '0.05',
    '--scale', '1', '--capsule', 'pred'
]
COUPLING = [
    '--index', '3', '--reduce', 'types', '--cell', '2', '--type-cols', '2',
    '--vmin', '0', '--vmax', '0.2'
]


@pytest.fixture(scope='module')
def drawn(tmp_path_factory, tiny_mnist_root):
    """Run the three tools on a random tiny checkpoint; return the folder
    of their PNGs, the config and the checkpoint."""
    folder = tmp_path_factory.mktemp('vis_tools')
    config = write_tiny_config(folder / 'tiny.py', tiny_mnist_root)
    init_default_scope('mmpretrain')
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(str(config)).model)
    checkpoint = folder / 'tiny.pth'
    torch.save(dict(state_dict=model.state_dict()), checkpoint)
    runs = [[
        f'{TOOLS}/vis_{tool}.py',
        str(config),
        str(checkpoint), '--out',
        str(folder / f'{tool}.png'), *options
    ] for tool, options in (('reconstructions', RECONSTRUCTIONS),
                            ('perturbation', PERTURBATION),
                            ('coupling', COUPLING))]
    log = run_in_repo('python', '-c', RUN_TOOLS.format(runs=runs))
    assert log.count('wrote') == 3, log
    return folder, config, checkpoint


@pytest.fixture(scope='module')
def model(drawn):
    """The tiny checkpoint, loaded in this process."""
    return load_model(str(drawn[1]), str(drawn[2]))


def assert_close_pixels(image: np.ndarray, expected: np.ndarray) -> None:
    """Equal up to one grey level (float rounding between processes)."""
    assert image.shape == expected.shape
    assert np.abs(image.astype(int) - expected).max() <= 1


def read_png(path) -> np.ndarray:
    assert path.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def test_vis_reconstructions(drawn, model):
    image = read_png(drawn[0] / 'reconstructions.png')
    # 3 rows of 2 tiles, each 28x28 input | reconstruction at scale 2 over
    # a 14-pixel caption, 4 pixels apart.
    assert image.shape == (3 * (56 + 14 + 4) - 4, 2 * (2 * 56 + 4) - 4, 3)
    batch = load_samples(model._config, 0, 5)
    out = capsule_outputs(model, batch)
    preds, recons = reconstruct_top(model, out.capsules, 1)
    expected = reconstruction_figure(out.images, recons,
                                     sample_labels(batch), preds.tolist(),
                                     cols=2, scale=2)
    assert_close_pixels(image, expected)


def test_vis_perturbation(drawn, model):
    image = read_png(drawn[0] / 'perturbation.png')
    values, dims = 5, 4  # -0.1, -0.05, 0, 0.05, 0.1; 4-D capsules
    block_w = 24 + values * 28
    assert image.shape == (2 * 14 + dims * 28, 2 * block_w + 16, 3)
    out = capsule_outputs(model, load_samples(model._config, 3, 2))
    _, plain = reconstruct_top(model, out.capsules, 1)
    for block in range(2):
        x0 = block * (block_w + 16) + 24
        tiles = [[
            image[28 + d * 28:28 + (d + 1) * 28,
                  x0 + s * 28:x0 + (s + 1) * 28] for s in range(values)
        ] for d in range(dims)]
        # The shift of 0 (middle column) is the same reconstruction in every
        # row; a shift of -0.1 changes it differently per dimension.
        for d in range(1, dims):
            assert (tiles[d][2] == tiles[0][2]).all()
        assert any((tiles[d][0] != tiles[0][0]).any() for d in range(dims))
        # ... and it is the plain reconstruction of the predicted class.
        assert_close_pixels(tiles[0][2], to_rgb(plain[block, 0]))


def test_vis_coupling(drawn, model):
    image = read_png(drawn[0] / 'coupling.png')
    # Input 28x28 at scale 4 over its caption; 10 class tiles in rows of
    # 5, each the 2 type maps (6x6 at 2 px per cell, 1 px apart) over a
    # caption, 4 px apart; the 10 + 14 px colour bar; parts 4 px apart.
    tile_w = 2 * 12 + 1
    classes_w = 5 * tile_w + 4 * 4
    assert image.shape == (28 * 4 + 14 + 4 + 2 * (12 + 14) + 4 + 4 + 24,
                           max(28 * 4, classes_w), 3)
    out = capsule_outputs(model, load_samples(model._config, 3, 1), True)
    lengths = out.capsules[0].norm(dim=-1).tolist()
    expected = coupling_figure(
        out.images[0], coupling_maps(out.coupling[0], (2, 6, 6), 'types'),
        lengths, f'#3: gt 3 pred {np.argmax(lengths)}', cols=5, cell=2,
        type_cols=2, vmin=0., vmax=0.2)
    # One colour-map level apart at most: a few units per channel.
    assert np.abs(image.astype(int) - expected).max() <= 8
