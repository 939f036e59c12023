import math

import pytest
import torch

from mmcaps.models.utils import capsule_length, squash, squash_efficient


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


def textbook_squash(s: torch.Tensor) -> torch.Tensor:
    """``|s|^2 / (1 + |s|^2) s / |s|`` as written (nonzero vectors)."""
    n = s.norm(dim=-1, keepdim=True)
    return n**2 / (1 + n**2) * s / n


def test_squash_matches_textbook_formula_in_float64():
    # Lengths from 1e-4 to 1e4: the formula's normal range.
    torch.manual_seed(0)
    s = torch.randn(200, 8, dtype=torch.float64) * torch.logspace(
        -4, 4, 200, dtype=torch.float64)[:, None]
    s.requires_grad_()
    grad_v = torch.randn(200, 8, dtype=torch.float64)
    ref = s.detach().clone().requires_grad_()
    expected = textbook_squash(ref)
    expected.backward(grad_v)
    v = squash(s)
    v.backward(grad_v)
    torch.testing.assert_close(v, expected, rtol=1e-12, atol=0)
    torch.testing.assert_close(s.grad, ref.grad, rtol=1e-10, atol=1e-14)
    # float32: to float32 rounding of each component, however short.
    s32 = s.detach().float().requires_grad_()
    v32 = squash(s32)
    v32.backward(grad_v.float())
    torch.testing.assert_close(v32.double(), expected, rtol=1e-6, atol=0)
    torch.testing.assert_close(s32.grad.double(), ref.grad, rtol=1e-5,
                               atol=1e-5 * ref.grad.abs().max().item())


HUGE = [(torch.float32, 1e30), (torch.float32, 3e38),
        (torch.float32, torch.finfo(torch.float32).max),
        (torch.float16, 6e4), (torch.float16, torch.finfo(torch.float16).max),
        (torch.bfloat16, torch.finfo(torch.bfloat16).max),
        (torch.float64, 1e300)]


@pytest.mark.parametrize('dtype,scale', HUGE)
def test_squash_huge_vectors(dtype, scale):
    # |s|^2 overflows the dtype (and float32, to which fp16/bf16 are
    # computed, for the bf16 and float32 maxima). Exactly: length
    # 1 - O(1/|s|^2), i.e. 1 in the dtype, direction kept, and Jacobian
    # (I - u u^T) / |s| + O(1/|s|^3) with u = s / |s|.
    u = torch.tensor([1.0, -0.5, 1 / 3, 0.0, 0.25], dtype=torch.float64)
    s = (scale * u).to(dtype).requires_grad_()
    # In float64 too, but |s / scale|^2 does not overflow.
    unit_s = s.detach().double() / scale
    n = scale * unit_s.norm()
    unit = unit_s / unit_s.norm()
    v = squash(s)
    assert v.dtype == dtype
    torch.testing.assert_close(v, unit.to(dtype))
    grad_v = torch.tensor([0.3, 0.2, -1.0, 0.5, 2.0], dtype=dtype)
    v.backward(grad_v)
    assert torch.isfinite(s.grad).all()
    g = grad_v.double()
    expected = g - (g @ unit) * unit
    # Compared at scale |s|: the gradient itself is subnormal here for the
    # fp32/bf16 maxima and fp16 (fp16 and bf16 keep few bits there).
    tol = {torch.float16: 1e-2, torch.bfloat16: 5e-2}.get(dtype, 1e-5)
    torch.testing.assert_close(s.grad.double() * n, expected, rtol=tol,
                               atol=tol)
    length = capsule_length(s.detach())
    assert length.dtype == torch.promote_types(dtype, torch.float32)
    if n > torch.finfo(length.dtype).max:
        # The length itself is out of range.
        assert length == float('inf')
    else:
        torch.testing.assert_close(length.double(), n, rtol=1e-6, atol=0)


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16,
                                   torch.float32, torch.float64])
def test_squash_and_length_zero_and_tiny_vectors(dtype):
    # At s = 0 squash(s) = |s| s + O(|s|^3): value and Jacobian are 0;
    # |v| has gradient 0 there by convention (it has none).
    s = torch.zeros(3, 8, dtype=dtype, requires_grad=True)
    v = squash(s)
    assert torch.equal(v, torch.zeros_like(v))
    length = capsule_length(s)
    assert torch.equal(length, torch.zeros(3, dtype=length.dtype))
    (v.double().sum() + length.double().sum()).backward()
    assert torch.equal(s.grad, torch.zeros_like(s))
    # Short vectors, ~|s| s: the textbook formula's values, to rounding.
    short = torch.tensor([3e-3, -4e-3], dtype=dtype)
    short64 = short.double()
    torch.testing.assert_close(squash(short),
                               textbook_squash(short64).to(dtype))
    torch.testing.assert_close(capsule_length(short),
                               short64.norm().to(length.dtype))


# squash_efficient, the squash of Efficient-CapsNet.


def test_squash_efficient_length_by_hand():
    # |s| = ln 2: length 1 - 1/2 = 0.5; |s| = 5: 1 - e^-5.
    s = torch.tensor([[math.log(2) * 0.6, math.log(2) * 0.8],
                      [3.0, 4.0], [0.0, -1e-3]], dtype=torch.float64)
    v = squash_efficient(s)
    expected_len = torch.tensor([0.5, 1 - math.exp(-5), 1 - math.exp(-1e-3)],
                                dtype=torch.float64)
    torch.testing.assert_close(v.norm(dim=-1), expected_len)
    torch.testing.assert_close(v / v.norm(dim=-1, keepdim=True),
                               s / s.norm(dim=-1, keepdim=True))


def test_squash_efficient_matches_formula_in_float64():
    torch.manual_seed(9)
    s = torch.randn(100, 8, dtype=torch.float64) * torch.logspace(
        -6, 2, 100, dtype=torch.float64)[:, None]
    s.requires_grad_()
    ref = s.detach().clone().requires_grad_()
    n = ref.norm(dim=-1, keepdim=True)
    expected = (1 - 1 / torch.exp(n)) * ref / n
    grad_v = torch.randn(100, 8, dtype=torch.float64)
    expected.backward(grad_v)
    v = squash_efficient(s)
    v.backward(grad_v)
    torch.testing.assert_close(v, expected, rtol=1e-10, atol=0)
    torch.testing.assert_close(s.grad, ref.grad, rtol=1e-8, atol=1e-12)
    torch.testing.assert_close(squash_efficient(s.detach().T, dim=0).T,
                               v.detach())


def test_squash_efficient_zero_vector():
    # v ~ s near 0: value 0 and Jacobian the identity, not NaN.
    s = torch.zeros(16, dtype=torch.float64)
    jacobian = torch.autograd.functional.jacobian(squash_efficient, s)
    torch.testing.assert_close(jacobian, torch.eye(16, dtype=torch.float64))
    assert torch.equal(squash_efficient(s), s)


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_squash_efficient_half_precision(dtype):
    big = torch.full((2, 16), 300.0, dtype=dtype, requires_grad=True)
    zero = torch.zeros(2, 16, dtype=dtype, requires_grad=True)
    v, vz = squash_efficient(big), squash_efficient(zero)
    assert v.dtype == dtype and vz.dtype == dtype
    assert torch.equal(vz, zero.detach())
    torch.testing.assert_close(v.float().norm(dim=-1), torch.ones(2),
                               rtol=1e-2, atol=0)
    (v.float().sum() + vz.float().sum()).backward()
    assert torch.isfinite(big.grad).all() and torch.isfinite(zero.grad).all()


def test_squash_efficient_overflowing_norm():
    s = torch.tensor([[3e38, 3e38], [-3e38, 0.0]], requires_grad=True)
    v = squash_efficient(s)
    torch.testing.assert_close(
        v, torch.tensor([[0.5**0.5, 0.5**0.5], [-1.0, 0.0]]))
    v.sum().backward()
    assert torch.isfinite(s.grad).all()
