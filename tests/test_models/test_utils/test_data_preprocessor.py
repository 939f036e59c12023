import re

import pytest
import torch
from mmpretrain.structures import DataSample

from mmcaps.models.utils import (CapsDataPreprocessor,
                                 RandomShiftDataPreprocessor, random_shift)


def shift_by_hand(img, dy, dx, fill):
    """Shift (C, H, W) down by dy and right by dx, uncovered = fill."""
    c, h, w = img.shape
    out = torch.full_like(img, 0) + fill
    for y in range(h):
        for x in range(w):
            sy, sx = y - dy, x - dx
            if 0 <= sy < h and 0 <= sx < w:
                out[:, y, x] = img[:, sy, sx]
    return out


def test_random_shift_matches_hand_shift():
    torch.manual_seed(0)
    images = torch.rand(6, 2, 7, 5)
    fill = torch.tensor([-1.0, -2.0]).view(2, 1, 1)
    out = random_shift(images, 2, fill, torch.Generator().manual_seed(3))
    offsets = torch.randint(0, 5, (2, 6, 1),
                            generator=torch.Generator().manual_seed(3))
    for b in range(6):
        # Cropping at offset o of the padded image shifts by 2 - o.
        dy, dx = 2 - int(offsets[0, b]), 2 - int(offsets[1, b])
        expected = shift_by_hand(images[b], dy, dx, fill)
        torch.testing.assert_close(out[b], expected)


def test_random_shift_covers_all_offsets():
    img = torch.zeros(4000, 1, 5, 5)
    img[:, :, 2, 2] = 1
    out = random_shift(img, 2, torch.zeros(1, 1, 1),
                       torch.Generator().manual_seed(0))
    where = out[:, 0].flatten(1).argmax(1)
    rows, cols = where // 5, where % 5
    assert set(rows.tolist()) == set(range(5))
    assert set(cols.tolist()) == set(range(5))
    # Independent, uniform axes: each of the 25 positions about 4000 / 25.
    counts = torch.bincount(where, minlength=25).float()
    assert counts.min() > 100 and counts.max() < 220


def test_preprocessor_shifts_raw_image_with_black_only_in_training():
    torch.manual_seed(0)
    raw = torch.randint(1, 256, (8, 1, 6, 6), dtype=torch.uint8)
    data = dict(inputs=raw.clone(),
                data_samples=[DataSample().set_gt_label(1) for _ in raw])
    pre = RandomShiftDataPreprocessor(random_shift=1, mean=[30.],
                                      std=[70.])
    plain = pre(dict(data), training=False)['inputs']
    torch.testing.assert_close(plain, (raw.float() - 30) / 70)
    shifted = pre(dict(data), training=True)['inputs'] * 70 + 30
    # Every output image is the raw one shifted by -1..1 px with black (0)
    # borders.
    for b in range(8):
        candidates = [
            shift_by_hand(raw[b].float(), dy, dx, 0.0)
            for dy in (-1, 0, 1) for dx in (-1, 0, 1)
        ]
        assert any(
            torch.allclose(shifted[b], c, atol=1e-3) for c in candidates)
    with pytest.raises(ValueError, match='^' + re.escape(
            'RandomShiftDataPreprocessor: random_shift must be a non-negative '
            'integer, got -1')):
        RandomShiftDataPreprocessor(random_shift=-1)
    # A CapsDataPreprocessor: it gives the raw images back.
    assert isinstance(pre, CapsDataPreprocessor)
    torch.testing.assert_close(pre.denormalize(plain), raw.float())


@pytest.mark.parametrize('mean,std', [([30.], [70.]), ([0.], [255.]),
                                      ([10., 20., 30.], [2., 4., 8.])])
def test_denormalize_gives_the_raw_pixels(mean, std):
    torch.manual_seed(1)
    channels = len(mean)
    raw = torch.randint(0, 256, (3, channels, 5, 4), dtype=torch.uint8)
    pre = CapsDataPreprocessor(mean=mean, std=std)
    inputs = pre(dict(inputs=list(raw)), training=True)['inputs']
    # The normalised input, by hand, and back.
    m = torch.tensor(mean).view(1, -1, 1, 1)
    s = torch.tensor(std).view(1, -1, 1, 1)
    torch.testing.assert_close(inputs, (raw.float() - m) / s)
    torch.testing.assert_close(pre.denormalize(inputs), raw.float())


def test_denormalize_without_normalisation_is_the_identity():
    pre = CapsDataPreprocessor()
    raw = torch.randint(0, 256, (2, 1, 3, 3), dtype=torch.uint8)
    inputs = pre(dict(inputs=list(raw)))['inputs']
    torch.testing.assert_close(inputs, raw.float())
    assert pre.denormalize(inputs) is inputs
