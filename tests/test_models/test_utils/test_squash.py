import pytest
import torch

from mmcaps.models.utils import Squash, capsule_length, squash


def test_squash_lengths_match_formula():
    s = torch.tensor([[3.0, 4.0], [0.3, 0.4], [30.0, 40.0]])
    v = squash(s)
    norms = torch.tensor([5.0, 0.5, 50.0])
    expected_len = norms**2 / (1 + norms**2)
    torch.testing.assert_close(v.norm(dim=-1), expected_len)
    # Direction is kept.
    torch.testing.assert_close(v / v.norm(dim=-1, keepdim=True),
                               s / norms[:, None])


def test_squash_along_other_dim():
    s = torch.randn(2, 8, 5)
    torch.testing.assert_close(
        squash(s, dim=1), squash(s.transpose(1, 2)).transpose(1, 2))
    torch.testing.assert_close(Squash(dim=1)(s), squash(s, dim=1))


def test_squash_zero_vector_finite_value_and_grad():
    s = torch.zeros(4, 16, requires_grad=True)
    v = squash(s)
    assert torch.equal(v, torch.zeros_like(v))
    v.sum().backward()
    assert torch.isfinite(s.grad).all()


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_squash_half_precision(dtype):
    # |s| = 4 * 300 = 1200: |s|^2 overflows fp16; the squashed length is
    # still just under 1 and the gradient finite.
    s = torch.full((2, 16), 300.0, dtype=dtype, requires_grad=True)
    z = torch.zeros(2, 16, dtype=dtype, requires_grad=True)
    v, vz = squash(s), squash(z)
    assert v.dtype == dtype
    assert torch.isfinite(v).all() and torch.isfinite(vz).all()
    assert 0.99 < v.float().norm(dim=-1).min() <= 1.0
    (v.float().sum() + vz.float().sum()).backward()
    assert torch.isfinite(s.grad).all() and torch.isfinite(z.grad).all()


def test_capsule_length_grad_at_zero():
    v = torch.zeros(3, 16, requires_grad=True)
    length = capsule_length(v)
    assert torch.all(length < 1e-3)
    length.sum().backward()
    assert torch.isfinite(v.grad).all()
    x = torch.tensor([[3.0, 4.0]])
    torch.testing.assert_close(capsule_length(x), torch.tensor([5.0]))
