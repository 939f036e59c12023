"""The capsule non-linearity of Sabour et al. (2017)."""
import torch
import torch.nn as nn

__all__ = ['squash', 'Squash', 'capsule_length']


def squash(s: torch.Tensor, dim: int = -1, eps: float = 1e-8) -> torch.Tensor:
    """Squash vectors so that their length lies in [0, 1).

    ``squash(s) = |s|^2 / (1 + |s|^2) * s / |s|``. The computation runs in
    at least float32 whatever the input dtype, because in fp16 ``|s|^2``
    overflows for ``|s| > 256``; ``eps`` under the square root keeps value
    and gradient finite for ``s = 0``, where the textbook formula divides by
    zero.

    Args:
        s: Capsule vectors of any shape ``(..., D, ...)``.
        dim: The capsule dimension.
        eps: Added to ``|s|^2`` under the square root.

    Returns:
        Tensor of the same shape and dtype as ``s``.
    """
    x = s.to(torch.promote_types(s.dtype, torch.float32))
    sq_norm = x.pow(2).sum(dim=dim, keepdim=True)
    scale = sq_norm / (1.0 + sq_norm) / torch.sqrt(sq_norm + eps)
    return (x * scale).to(s.dtype)


def capsule_length(v: torch.Tensor, dim: int = -1,
                   eps: float = 1e-12) -> torch.Tensor:
    """Capsule lengths ``|v|`` with a finite gradient at ``v = 0``.

    Args:
        v: Capsules ``(..., D)``.
        dim: The capsule dimension, reduced away.
        eps: Added under the square root.

    Returns:
        Lengths ``(...)`` in at least float32.
    """
    x = v.to(torch.promote_types(v.dtype, torch.float32))
    return torch.sqrt(x.pow(2).sum(dim=dim) + eps)


class Squash(nn.Module):
    """Module form of :func:`squash`.

    Args:
        dim: The capsule dimension.
        eps: Added to ``|s|^2`` under the square root.
    """

    def __init__(self, dim: int = -1, eps: float = 1e-8) -> None:
        super().__init__()
        self.dim = dim
        self.eps = eps

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        return squash(s, self.dim, self.eps)

    def extra_repr(self) -> str:
        return f'dim={self.dim}, eps={self.eps}'
