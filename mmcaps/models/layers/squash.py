"""Module form of the capsule non-linearity."""
import torch
import torch.nn as nn

from ..utils import squash

__all__ = ['Squash']


class Squash(nn.Module):
    """Module form of :func:`squash`.

    Args:
        dim: The capsule dimension.
    """

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        return squash(s, self.dim)

    def extra_repr(self) -> str:
        return f'dim={self.dim}'
