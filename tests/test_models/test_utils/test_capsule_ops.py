import torch

from mmcaps.models.utils import channels_to_capsules, coordinate_offsets


def test_channels_to_capsules_by_hand():
    # Channel t * D + d is dimension d of type t; capsules type-major, then
    # row, then column.
    torch.manual_seed(0)
    b, t, d, h, w = 2, 3, 4, 2, 5
    out = torch.randn(b, t * d, h, w)
    caps = channels_to_capsules(out, t, d)
    assert caps.shape == (b, t * h * w, d)
    for ti in range(t):
        for y in range(h):
            for x in range(w):
                n = (ti * h + y) * w + x
                for di in range(d):
                    channel = out[:, ti * d + di, y, x]
                    assert caps[:, n, di].tolist() == channel.tolist()
    # Not the plain view of the NCHW tensor, which mixes positions.
    assert not torch.equal(caps, out.reshape(b, -1, d))


def test_channels_to_capsules_gradient_is_the_inverse_gather():
    out = torch.randn(1, 6, 2, 2, requires_grad=True)
    caps = channels_to_capsules(out, 2, 3)
    weights = torch.arange(caps.numel(), dtype=torch.float32).view_as(caps)
    (caps * weights).sum().backward()
    # Each input channel value receives the weight of where it went.
    for ti in range(2):
        for y in range(2):
            for x in range(2):
                for di in range(3):
                    n = (ti * 2 + y) * 2 + x
                    assert out.grad[0, ti * 3 + di, y, x] == weights[0, n, di]


def test_coordinate_offsets_by_hand():
    off = coordinate_offsets(2, 3, 4)
    assert off.shape == (6, 4, 4)
    # Capsule (y, x) = (1, 2) is number 1 * 3 + 2 = 5: row centre 1.5 / 2,
    # column centre 2.5 / 3, in the right-hand column's first two entries.
    expected = torch.zeros(4, 4)
    expected[0, 3] = 0.75
    expected[1, 3] = 2.5 / 3
    torch.testing.assert_close(off[5], expected)
    rows = torch.tensor([0.25, 0.25, 0.25, 0.75, 0.75, 0.75])
    cols = torch.tensor([1, 3, 5, 1, 3, 5]) / 6
    torch.testing.assert_close(off[:, 0, 3], rows)
    torch.testing.assert_close(off[:, 1, 3], cols)
    off[:, 0, 3] = 0
    off[:, 1, 3] = 0
    assert not off.any()


def test_coordinate_offsets_dtype_and_pose_size():
    off = coordinate_offsets(3, 1, 2, dtype=torch.float64)
    assert off.dtype == torch.float64 and off.shape == (3, 2, 2)
    # P = 2: the right-hand column is column 1.
    torch.testing.assert_close(
        off[:, 0, 1], torch.tensor([1, 3, 5], dtype=torch.float64) / 6)
    torch.testing.assert_close(off[:, 1, 1],
                               torch.full((3, ), 0.5, dtype=torch.float64))
    assert not off[:, :, 0].any()
