"""The capsule non-linearity of Sabour et al. (2017)."""
from typing import Tuple

import torch

__all__ = ['capsule_length', 'squash', 'squash_efficient']


def _max_abs_split(
        x: torch.Tensor,
        dim: int) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Split vectors as ``x = m * y`` for a norm that cannot overflow.

    ``m`` is the largest ``|x_i|`` along ``dim`` (at least the smallest
    normal number, so that zero vectors give ``y = 0``), so
    ``|y| in [1, sqrt(D)]`` (less only for zero and subnormal vectors):
    squaring ``y`` neither overflows nor underflows, where ``|x|^2``
    overflows fp32 from ``|x| ~ 1.8e19``. ``m``
    is detached: ``m * (x / m)`` is ``x`` for any constant ``m > 0``, so the
    gradient through ``y`` alone is exact.

    Args:
        x: Vectors ``(..., D, ...)`` in float32 or float64.
        dim: The vector dimension.

    Returns:
        ``m`` and ``|y|``, both ``(..., 1, ...)``, and ``y`` ``(..., D, ...)``.
    """
    m = x.detach().abs().amax(dim=dim, keepdim=True)
    m = m.clamp_min(torch.finfo(x.dtype).tiny)
    y = x / m
    return m, torch.linalg.vector_norm(y, dim=dim, keepdim=True), y


def squash(s: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Squash vectors so that their length lies in [0, 1].

    ``squash(s) = |s|^2 / (1 + |s|^2) * s / |s|``, computed in at least
    float32 whatever the input dtype, as ``y |y| / (1 / m^2 + |y|^2)`` with
    ``s = m y`` split by the largest component (:func:`_max_abs_split`):
    value and gradient are finite and correct to float rounding for every
    finite input, from zero vectors (where the formula's ``s / |s|`` divides
    by zero; value and Jacobian are 0) up to the largest fp16/bf16/fp32
    values (where ``|s|^2`` overflows; the length rounds to 1, the direction
    is kept). Lengths under ~1e-19 give squashed vectors under fp32's
    smallest normal number, which flush to 0.

    Args:
        s: Capsule vectors of any shape ``(..., D, ...)``.
        dim: The capsule dimension.

    Returns:
        Tensor of the same shape and dtype as ``s``.
    """
    x = s.to(torch.promote_types(s.dtype, torch.float32))
    m, r, y = _max_abs_split(x, dim)
    return (y * (r / (m.pow(-2) + r.pow(2)))).to(s.dtype)


def squash_efficient(s: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Efficient-CapsNet's squash (Mazzia et al. 2021), lengths in [0, 1).

    ``squash_efficient(s) = (1 - 1 / e^|s|) * s / |s|``: the length is
    ``1 - e^-|s|`` (``|s| = ln 2`` gives 0.5). Near zero it is ``~ s``
    (Jacobian the identity), where :func:`squash` is ``~ |s| s`` and
    suppresses short vectors. Computed in at least float32 whatever the
    input dtype, as ``y (1 - e^(-m |y|)) / |y|`` with ``s = m y`` split by
    the largest component (:func:`_max_abs_split`): value and gradient are
    finite for every finite input, zero vectors included (value 0,
    Jacobian the identity, where the formula's ``s / |s|`` divides by zero;
    the official code adds an epsilon instead) up to vectors whose ``|s|``
    overflows (length 1, direction kept).

    Args:
        s: Capsule vectors of any shape ``(..., D, ...)``.
        dim: The capsule dimension.

    Returns:
        Tensor of the same shape and dtype as ``s``.
    """
    x = s.to(torch.promote_types(s.dtype, torch.float32))
    m, r, y = _max_abs_split(x, dim)
    nonzero = r > 0
    # The where on r keeps 0 / 0 out of the graph of zero vectors, whose
    # value and gradient come from the identity branch.
    r = torch.where(nonzero, r, torch.ones_like(r))
    v = y * (-torch.expm1(-m * r) / r)
    return torch.where(nonzero, v, x).to(s.dtype)


def capsule_length(v: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Capsule lengths ``|v|``, without overflow in the squares.

    Exact to float rounding for every finite input (``inf`` only where the
    length itself exceeds the dtype's range), with the gradient ``0`` at
    ``v = 0``, where ``v / |v|`` is undefined.

    Args:
        v: Capsules ``(..., D)``.
        dim: The capsule dimension, reduced away.

    Returns:
        Lengths ``(...)`` in at least float32.
    """
    x = v.to(torch.promote_types(v.dtype, torch.float32))
    m, r, _ = _max_abs_split(x, dim)
    return (m * r).squeeze(dim)
