"""FitInputShape: image files of any size, grey or colour, to the model's
input; the configs' dataset images pass untouched."""
from pathlib import Path

import mmcv
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import Compose
from mmpretrain.registry import TRANSFORMS

import mmcaps  # noqa: F401
from mmcaps.datasets.transforms import FitInputShape

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted(p for p in (REPO / 'configs').rglob('*.py')
                 if '_base_' not in p.parts)


def image(*shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape, np.uint8)


def test_grey_model_takes_bgr_as_grey():
    bgr = image(28, 28, 3)
    out = FitInputShape((1, 28, 28))(dict(img=bgr))
    b, g, r = (bgr[..., i].astype(float) for i in range(3))
    expected = 0.299 * r + 0.587 * g + 0.114 * b
    assert out['img'].shape == out['img_shape'] == (28, 28)
    assert out['img'].dtype == np.uint8
    assert np.abs(out['img'] - expected).max() <= 1


def test_colour_model_repeats_grey():
    grey = image(32, 32)
    for img in (grey, grey[..., None]):
        out = FitInputShape((3, 32, 32))(dict(img=img.copy()))
        assert out['img'].shape == (32, 32, 3)
        for c in range(3):
            np.testing.assert_array_equal(out['img'][..., c], grey)


def test_resizes_any_size_to_the_input():
    # A 280x280 digit (a 28x28 one scaled 10x) shrinks back by area
    # averaging to exactly the 28x28 digit.
    digit = image(28, 28)
    big = np.kron(digit, np.ones((10, 10), np.uint8))
    out = FitInputShape((1, 28, 28))(dict(img=big))
    np.testing.assert_array_equal(out['img'], digit)
    wide = FitInputShape((1, 40, 40))(dict(img=image(20, 90, 3)))
    assert wide['img'].shape == wide['img_shape'] == (40, 40)


def test_input_shaped_image_is_untouched():
    for shape, img in (((1, 28, 28), image(28, 28)),
                       ((3, 32, 32), image(32, 32, 3))):
        out = FitInputShape(shape)(dict(img=img))
        assert out['img'] is img


def test_bad_input_is_an_error():
    with pytest.raises(ValueError, match=r'expected an \(h, w\), \(h, w, 1\)'
                       r' or \(h, w, 3\) image, got an array of shape '
                       r'\(28, 28, 4\)'):
        FitInputShape((1, 28, 28))(dict(img=image(28, 28, 4)))
    with pytest.raises(ValueError, match=r'C 1 or 3 and positive H, W, got '
                       r'\(2, 28, 28\)'):
        FitInputShape((2, 28, 28))
    with pytest.raises(ValueError, match='got \\(28, 28\\)'):
        FitInputShape((28, 28))


@pytest.mark.parametrize('config', CONFIGS, ids=lambda p: p.stem)
def test_test_pipeline_leaves_dataset_images_unchanged(config, tmp_path):
    """Each config's test pipeline gives the dataset's arrays (grey (H, W)
    or RGB (H, W, 3) of the input size) exactly what PackInputs alone
    gave before, and takes a colour file of another size. Datasets of
    image files (ImageNet) load, resize and crop every image: files of
    other sizes, grey or colour, come out at the input size."""
    cfg = Config.fromfile(str(config))
    c, h, w = cfg.get('input_shape', (1, 28, 28))
    pipeline = Compose([
        TRANSFORMS.build(t) for t in cfg.test_dataloader.dataset.pipeline])
    if cfg.test_dataloader.dataset.pipeline[0].type == 'LoadImageFromFile':
        for i, img in enumerate((image(2 * h + 3, w + 5, 3),
                                 image(h // 2 + 1, 3 * w))):
            mmcv.imwrite(img, str(tmp_path / f'{i}.png'))
            out = pipeline(dict(img_path=str(tmp_path / f'{i}.png')))
            assert out['inputs'].shape == (c, h, w)
        return
    pack = TRANSFORMS.build(dict(type='PackInputs'))
    array = image(h, w) if c == 1 else image(h, w, 3)
    got = pipeline(dict(img=array.copy()))['inputs']
    torch.testing.assert_close(got, pack(dict(img=array))['inputs'])
    from_file = pipeline(dict(img=image(2 * h + 3, w + 5, 3)))['inputs']
    assert from_file.shape == (c, h, w)
