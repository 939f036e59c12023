"""AffineMNIST and its warp: hand-checked maps, a loop reference,
reproducibility, parameter ranges and errors."""
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate
from torch.utils.data import DataLoader

from mmcaps.datasets import (AffineMNIST, CenterPlacement, MNISTIdx,
                             affine_matrix, warp_affine, write_idx)

REAL_MNIST = Path(__file__).resolve().parents[2] / '../shared/data/mnist'
NUM_DIGITS = 12


@pytest.fixture(scope='module')
def blob_mnist(tmp_path_factory) -> Path:
    """MNIST test files of 12 digits: a random blob of ink, 6 to 14 px on a
    side, somewhere on an empty 28x28 image, so that the ink's bounding box
    varies; labels 0..9, 0, 1."""
    root = tmp_path_factory.mktemp('blob_mnist')
    rng = np.random.default_rng(0)
    images = np.zeros((NUM_DIGITS, 28, 28), dtype=np.uint8)
    for img in images:
        h, w = rng.integers(6, 15, size=2)
        top, left = rng.integers(0, 28 - h + 1), rng.integers(0, 28 - w + 1)
        img[top:top + h, left:left + w] = rng.integers(1, 256, (h, w))
    write_idx(str(root / 't10k-images-idx3-ubyte.gz'), images)
    write_idx(str(root / 't10k-labels-idx1-ubyte.gz'),
              np.arange(NUM_DIGITS, dtype=np.uint8) % 10)
    return root


def source_cfg(root, **kwargs):
    # Not serialised: BaseDataset then runs a costly gc.collect() per build.
    return dict(type='MNISTIdx', data_root=str(root), split='test',
                check_md5=False, serialize_data=False, **kwargs)


def mnist(root, **kwargs):
    cfg = source_cfg(root, **kwargs)
    cfg.pop('type')
    return MNISTIdx(**cfg)


def reference_warp(img, matrix, out_shape):
    """Bilinear resampling written as loops over output pixels and their
    four neighbours, unrounded."""
    inverse = np.linalg.inv(np.vstack([matrix, [0, 0, 1]]))
    h, w = img.shape
    out = np.zeros(out_shape)
    for y in range(out_shape[0]):
        for x in range(out_shape[1]):
            sx, sy, _ = inverse @ [x, y, 1]
            x0, y0 = math.floor(sx), math.floor(sy)
            for yy, wy in ((y0, 1 - (sy - y0)), (y0 + 1, sy - y0)):
                for xx, wx in ((x0, 1 - (sx - x0)), (x0 + 1, sx - x0)):
                    if 0 <= yy < h and 0 <= xx < w:
                        out[y, x] += wy * wx * img[yy, xx]
    return out


def about_centre(linear, in_size, out_size):
    """The (2, 3) map of ``linear`` taking the input's centre to the
    output's."""
    linear = np.asarray(linear, dtype=np.float64)
    offset = (out_size - 1) / 2 - linear @ np.full(2, (in_size - 1) / 2)
    return np.column_stack([linear, offset])


def test_affine_matrix_conventions():
    np.testing.assert_allclose(affine_matrix(0, 0, 0.8, 1.2),
                               [[0.8, 0], [0, 1.2]])
    # y points down: a 90-degree counter-clockwise turn sends +x (right) to
    # -y (up) and +y (down) to +x (right).
    np.testing.assert_allclose(affine_matrix(90, 0, 1, 1), [[0, 1], [-1, 0]],
                               atol=1e-15)
    # A 45-degree shear moves x by y.
    np.testing.assert_allclose(affine_matrix(0, 45, 1, 1), [[1, 1], [0, 1]])
    # Scale first, then shear, then rotate.
    r, s = math.radians(30), math.tan(math.radians(10))
    rotate = np.array([[math.cos(r), math.sin(r)],
                       [-math.sin(r), math.cos(r)]])
    np.testing.assert_allclose(
        affine_matrix(30, 10, 0.9, 1.1),
        rotate @ np.array([[1, s], [0, 1]]) @ np.diag([0.9, 1.1]))


def test_warp_hand_checked_maps():
    rng = np.random.default_rng(1)
    img = rng.integers(1, 256, (7, 5), dtype=np.uint8)
    # Integer translation: an exact shift, zeros where nothing lands.
    out = warp_affine(img, [[1, 0, 3], [0, 1, -2]], (9, 9))
    expected = np.zeros((9, 9), np.uint8)
    expected[0:5, 3:8] = img[2:7]
    np.testing.assert_array_equal(out, expected)
    # 90 degrees counter-clockwise about the centre of a square: np.rot90.
    square = rng.integers(0, 256, (6, 6), dtype=np.uint8)
    out = warp_affine(square, about_centre(affine_matrix(90, 0, 1, 1), 6, 6),
                      (6, 6))
    np.testing.assert_array_equal(out, np.rot90(square))
    # Half a pixel to the right: each pixel split evenly between two.
    dot = np.zeros((3, 3), np.uint8)
    dot[1, 1] = 200
    out = warp_affine(dot, [[1, 0, 0.5], [0, 1, 0]], (3, 4))
    np.testing.assert_array_equal(out[1], [0, 100, 100, 0])
    assert not np.delete(out, 1, axis=0).any()
    # A 45-degree shear about the centre of a 5x5: (x, y) -> (x + y, y)
    # relative to pixel (2, 2).
    dots = np.zeros((5, 5), np.uint8)
    dots[0, 2], dots[4, 1], dots[3, 3] = 10, 20, 30
    out = warp_affine(dots, about_centre(affine_matrix(0, 45, 1, 1), 5, 9),
                      (9, 9))
    expected = np.zeros((9, 9), np.uint8)
    # Pixel (row, col) sits at (x, y) = (col - 2, row - 2) and lands on
    # (col - 2 + row - 2 + 4, row - 2 + 4).
    expected[2, 2], expected[6, 5], expected[5, 6] = 10, 20, 30
    np.testing.assert_array_equal(out, expected)


def test_warp_matches_a_loop_reference_and_opencv():
    rng = np.random.default_rng(2)
    img = rng.integers(0, 256, (12, 10), dtype=np.uint8)
    matrices = [
        np.column_stack([
            affine_matrix(rng.uniform(-40, 40), rng.uniform(-30, 30),
                          *rng.uniform(0.6, 1.5, size=2)),
            rng.uniform(-2, 8, size=2)
        ]) for _ in range(3)
    ]
    outs = [warp_affine(img, matrix, (14, 15)) for matrix in matrices]
    for out, matrix in zip(outs, matrices):
        # The output is the reference rounded to the nearest integer.
        ref = reference_warp(img, matrix, (14, 15))
        assert np.abs(out - ref).max() <= 0.5 + 1e-9
        assert (out > 0).sum() > 50  # a good part lands on the canvas
    cv2 = pytest.importorskip('cv2')
    for out, matrix in zip(outs, matrices):
        # An independent implementation: OpenCV's fixed-point one, whose
        # weights are rounded to 1/32 px (identical results on the machine
        # this was written on; 1 grey level allowed).
        ocv = cv2.warpAffine(img, matrix, (15, 14), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        assert np.abs(out.astype(int) - ocv).max() <= 1


def test_warp_bad_input():
    img = np.zeros((5, 5), np.uint8)
    with pytest.raises(ValueError, match=r'img must be a \(h, w\) grey'):
        warp_affine(np.zeros((5, 5, 3), np.uint8), np.eye(2, 3), (5, 5))
    with pytest.raises(ValueError, match=r'matrix must have shape \(2, 3\)'):
        warp_affine(img, np.eye(3), (5, 5))
    with pytest.raises(ValueError, match='singular'):
        warp_affine(img, [[1, 2, 0], [2, 4, 0]], (5, 5))


def test_samples_index_digits_and_labels(blob_mnist):
    ds = AffineMNIST(source_cfg(blob_mnist), transforms_per_digit=3)
    source = mnist(blob_mnist)
    assert len(ds) == 3 * NUM_DIGITS and ds.test_mode
    for idx in range(len(ds)):
        info = ds.get_data_info(idx)
        assert info['source_index'] == idx % NUM_DIGITS
        assert info['gt_label'] == source.get_data_info(idx % NUM_DIGITS)[
            'gt_label'] == ds.get_cat_ids(idx)[0]
        assert info['img'].shape == (40, 40) and info['img'].dtype == np.uint8
        np.testing.assert_array_equal(
            info['img'],
            warp_affine(source.get_data_info(idx % NUM_DIGITS)['img'],
                        info['affine_matrix'], (40, 40)))
    np.testing.assert_array_equal(ds.get_data_info(-1)['img'],
                                  ds.get_data_info(len(ds) - 1)['img'])
    with pytest.raises(IndexError, match='out of range'):
        ds.get_data_info(len(ds))


def test_parameters_in_range_and_ink_inside(blob_mnist):
    ds = AffineMNIST(source_cfg(blob_mnist), transforms_per_digit=20,
                     max_rotation=15, max_shear=30, scale_range=(0.7, 1.3))
    source = mnist(blob_mnist)
    params = []
    for idx in range(len(ds)):
        info = ds.get_data_info(idx)
        rotation, shear, sx, sy, dx, dy = info['affine_params']
        params.append(info['affine_params'])
        assert -15 <= rotation <= 15 and -30 <= shear <= 30
        assert 0.7 <= sx <= 1.3 and 0.7 <= sy <= 1.3
        matrix = info['affine_matrix']
        np.testing.assert_allclose(matrix[:, :2],
                                   affine_matrix(rotation, shear, sx, sy))
        # (dx, dy) is the shift from the centred position.
        np.testing.assert_allclose(
            matrix @ [13.5, 13.5, 1], [19.5 + dx, 19.5 + dy], atol=1e-9)
        # Every ink pixel's centre lands inside the canvas.
        rows, cols = np.nonzero(source.get_data_info(idx % NUM_DIGITS)['img'])
        moved = matrix @ np.stack([cols, rows, np.ones_like(rows)])
        assert moved.min() >= -1e-9 and moved.max() <= 39 + 1e-9
    params = np.array(params)
    # The draws spread over the ranges (and the shifts over the canvas).
    assert params[:, 0].min() < -10 and params[:, 0].max() > 10
    assert params[:, 1].min() < -20 and params[:, 1].max() > 20
    assert np.ptp(params[:, 4]) > 10 and np.ptp(params[:, 5]) > 10


def test_identity_reproduces_the_centred_digit(blob_mnist):
    identity = dict(max_rotation=0, max_shear=0, scale_range=(1, 1))
    ds = AffineMNIST(source_cfg(blob_mnist), translate=False, **identity)
    source = mnist(blob_mnist, pipeline=[dict(type='CenterPlacement',
                                              canvas_size=40)])
    assert isinstance(source.pipeline.transforms[0], CenterPlacement)
    for idx in range(NUM_DIGITS):
        info = ds.get_data_info(idx)
        np.testing.assert_array_equal(info['img'], source[idx]['img'])
        np.testing.assert_array_equal(info['affine_params'],
                                      [0, 0, 1, 1, 0, 0])
    # The same draws with translation: only the shift differs.
    moved = AffineMNIST(source_cfg(blob_mnist), **identity)
    shifted = AffineMNIST(source_cfg(blob_mnist), max_rotation=20)
    still = AffineMNIST(source_cfg(blob_mnist), max_rotation=20,
                        translate=False)
    assert any(moved.get_data_info(i)['affine_params'][4:].any()
               for i in range(NUM_DIGITS))
    for idx in range(NUM_DIGITS):
        np.testing.assert_array_equal(
            shifted.get_data_info(idx)['affine_params'][:4],
            still.get_data_info(idx)['affine_params'][:4])


def test_too_large_ink_is_redrawn_then_centred(tmp_path):
    root = tmp_path / 'full'
    root.mkdir()
    full = np.full((2, 28, 28), 9, np.uint8)
    write_idx(str(root / 't10k-images-idx3-ubyte.gz'), full)
    write_idx(str(root / 't10k-labels-idx1-ubyte.gz'),
              np.array([1, 2], np.uint8))
    # A 28x28 ink block scaled by 1.2 cannot fit on 28x28: every draw
    # misses, the last one is centred.
    ds = AffineMNIST(source_cfg(root), max_rotation=0, max_shear=0,
                     scale_range=(1.2, 1.2), canvas_size=28)
    np.testing.assert_allclose(ds.get_data_info(0)['affine_params'],
                               [0, 0, 1.2, 1.2, 0, 0], atol=1e-12)
    # On 36x36 only scales up to 35/27 = 1.296 fit: all kept draws do.
    ds = AffineMNIST(source_cfg(root), max_rotation=0, max_shear=0,
                     scale_range=(1.0, 1.6), canvas_size=36,
                     transforms_per_digit=10)
    scales = np.array([ds.get_data_info(i)['affine_params'][2:4]
                       for i in range(len(ds))])
    assert scales.max() <= 35 / 27 and scales.min() >= 1.0


def test_same_index_same_sample_in_any_object_or_worker(blob_mnist):
    pipeline = [dict(type='PackInputs')]
    a = AffineMNIST(source_cfg(blob_mnist), transforms_per_digit=2,
                    pipeline=pipeline)
    b = AffineMNIST(source_cfg(blob_mnist), transforms_per_digit=2,
                    lazy_init=True)
    for idx in (0, 5, 23):
        np.testing.assert_array_equal(a.get_data_info(idx)['img'],
                                      b.get_data_info(idx)['img'])
        np.testing.assert_array_equal(a.get_data_info(idx)['affine_params'],
                                      b.get_data_info(idx)['affine_params'])
    other = AffineMNIST(source_cfg(blob_mnist), seed=1)
    assert not np.array_equal(other.get_data_info(0)['affine_params'],
                              a.get_data_info(0)['affine_params'])
    loader = DataLoader(a, batch_size=5, num_workers=2,
                        collate_fn=pseudo_collate)
    inputs = [x for batch in loader for x in batch['inputs']]
    assert len(inputs) == len(a)
    for idx, x in enumerate(inputs):
        expected = torch.from_numpy(b.get_data_info(idx)['img'])[None]
        torch.testing.assert_close(x, expected)


@pytest.mark.parametrize('kwargs,match', [
    (dict(transforms_per_digit=0), 'transforms_per_digit'),
    (dict(transforms_per_digit=1.5), 'transforms_per_digit'),
    (dict(transforms_per_digit=True), 'transforms_per_digit'),
    (dict(max_rotation=-1), 'max_rotation'),
    (dict(max_shear=90), 'max_shear must be below 90'),
    (dict(max_shear='45'), 'max_shear'),
    (dict(scale_range=(0, 1)), 'scale_range'),
    (dict(scale_range=(1.2, 0.8)), 'scale_range'),
    (dict(scale_range=(1, )), 'scale_range'),
    (dict(scale_range=1.0), 'scale_range'),
    (dict(canvas_size=0), 'canvas_size'),
    (dict(seed=-1), 'seed'),
])
def test_bad_parameters(blob_mnist, kwargs, match):
    with pytest.raises(ValueError, match=match):
        AffineMNIST(source_cfg(blob_mnist), lazy_init=True, **kwargs)


def test_bad_source_images(blob_mnist):
    source = mnist(blob_mnist)
    source.data_list[0]['img'] = source.data_list[0]['img'].astype(float)
    with pytest.raises(ValueError, match='uint8 source images'):
        AffineMNIST(source)
    source.data_list[0]['img'] = np.zeros((28, 28, 3), np.uint8)
    with pytest.raises(ValueError, match='2-D source images of one size'):
        AffineMNIST(source)


@pytest.mark.skipif(not REAL_MNIST.is_dir(), reason='real MNIST not found')
def test_real_digits_fit_and_keep_their_ink():
    ds = AffineMNIST(source_cfg(REAL_MNIST, indices=50),
                     transforms_per_digit=4)
    source = mnist(REAL_MNIST, indices=50)
    for idx in range(len(ds)):
        info = ds.get_data_info(idx)
        digit = source.get_data_info(idx % 50)['img'].astype(float)
        sx, sy = info['affine_params'][2:4]
        # Bilinear resampling keeps the ink's total, times the area
        # scale, up to rounding and edge effects, when nothing is cropped.
        ratio = info['img'].sum() / (digit.sum() * sx * sy)
        assert 0.9 < ratio < 1.1, (idx, ratio)
