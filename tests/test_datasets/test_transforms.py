"""RandomPlacement / CenterPlacement: bounds, exact copies, seeding."""
import numpy as np
import pytest
from mmcv.transforms import Compose
from mmpretrain.registry import TRANSFORMS

from mmcaps.datasets import CenterPlacement, RandomPlacement


def digit(shape=(28, 28)):
    """An image with no zero pixel and no symmetry: 1, 2, 3, ... wrapped."""
    return (np.arange(np.prod(shape)) % 255 + 1).astype(np.uint8).reshape(
        shape)


def check_placed(results, img, canvas_shape):
    """``img`` sits at ``results['placement']``, copied exactly, on an
    otherwise zero canvas."""
    canvas = results['img']
    assert canvas.shape == canvas_shape and canvas.dtype == img.dtype
    assert results['img_shape'] == canvas_shape[:2]
    top, left = results['placement']
    h, w = img.shape[:2]
    assert 0 <= top <= canvas_shape[0] - h
    assert 0 <= left <= canvas_shape[1] - w
    np.testing.assert_array_equal(canvas[top:top + h, left:left + w], img)
    outside = canvas.copy()
    outside[top:top + h, left:left + w] = 0
    assert not outside.any()
    return top, left


def test_random_placement_covers_every_offset_and_copies_exactly():
    img = digit()
    transform = RandomPlacement(canvas_size=40)
    np.random.seed(0)
    tops, lefts = zip(*(check_placed(transform(dict(img=img)), img,
                                     (40, 40)) for _ in range(400)))
    # 13 offsets per axis, 400 draws: each is missed with probability 1e-14.
    assert set(tops) == set(lefts) == set(range(13))


def test_random_placement_colour_and_rectangular_canvas():
    img = np.stack([digit(), digit()[::-1], digit()[:, ::-1]], axis=-1)
    transform = RandomPlacement(canvas_size=(30, 50))
    np.random.seed(1)
    tops, lefts = zip(*(check_placed(transform(dict(img=img)), img,
                                     (30, 50, 3)) for _ in range(200)))
    assert set(tops) == {0, 1, 2} and max(lefts) > 11
    # A canvas of the image's own size leaves a single placement.
    check_placed(RandomPlacement(28)(dict(img=img)), img, (28, 28, 3))


def test_random_placement_follows_the_global_numpy_seed():
    transform = RandomPlacement(canvas_size=40)

    def draws(seed):
        np.random.seed(seed)
        return [transform(dict(img=digit()))['placement'] for _ in range(20)]

    assert draws(3) == draws(3)
    assert draws(3) != draws(4)


@pytest.mark.parametrize('canvas,expected', [(40, (6, 6)), (41, (6, 6)),
                                             ((29, 31), (0, 1)),
                                             (28, (0, 0))])
def test_center_placement(canvas, expected):
    img = digit()
    shape = (canvas, canvas) if isinstance(canvas, int) else canvas
    results = CenterPlacement(canvas)(dict(img=img))
    assert check_placed(results, img, shape) == expected


def test_registered_and_packed_for_the_model():
    pipeline = Compose([
        TRANSFORMS.build(cfg) for cfg in (
            dict(type='RandomPlacement', canvas_size=40),
            dict(type='PackInputs'))
    ])
    packed = pipeline(dict(img=digit(), gt_label=3))
    assert tuple(packed['inputs'].shape) == (1, 40, 40)
    assert int(packed['inputs'].sum()) == int(digit().sum())
    assert 'RandomPlacement(canvas_size=(40, 40))' in repr(pipeline)


@pytest.mark.parametrize('cls', [RandomPlacement, CenterPlacement])
def test_bad_input(cls):
    for bad in (0, -3, 2.5, True, 'forty', (40, ), (40, 0), (40, 40, 1)):
        with pytest.raises(ValueError, match='canvas_size'):
            cls(canvas_size=bad)
    with pytest.raises(ValueError, match=r'28x28 image does not fit on the '
                       r'40x27 canvas.*\(28, 28\)'):
        cls(canvas_size=(40, 27))(dict(img=digit()))
