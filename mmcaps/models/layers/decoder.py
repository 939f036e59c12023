"""Reconstruction decoder of Sabour et al. (2017)."""
from typing import Sequence

import torch
import torch.nn as nn
from mmpretrain.registry import MODELS

__all__ = ['CapsuleDecoder']


@MODELS.register_module()
class CapsuleDecoder(nn.Module):
    """Decode masked class capsules into an image.

    All capsules but the selected ones are zeroed, the ``N * D`` values are
    flattened and an MLP (ReLU hidden layers, sigmoid output) produces an
    image in ``[0, 1]``. ``(B, N, D), (B, N) -> (B, *out_shape)``.

    Parameters: with ``N * D = 160``, hidden ``(512, 1024)`` and a 28x28 grey
    output, 82,432 + 525,312 + 803,600 = 1,411,344.

    Args:
        num_capsules: ``N`` (the number of classes).
        capsule_dim: ``D``.
        out_shape: ``(C, H, W)`` of the reconstructed image.
        hidden_dims: Widths of the hidden layers.
    """

    def __init__(self,
                 num_capsules: int = 10,
                 capsule_dim: int = 16,
                 out_shape: Sequence[int] = (1, 28, 28),
                 hidden_dims: Sequence[int] = (512, 1024)) -> None:
        super().__init__()
        self.num_capsules = num_capsules
        self.capsule_dim = capsule_dim
        self.out_shape = tuple(out_shape)
        layers = []
        in_features = num_capsules * capsule_dim
        for width in hidden_dims:
            layers += [nn.Linear(in_features, width), nn.ReLU(inplace=True)]
            in_features = width
        out_features = 1
        for size in self.out_shape:
            out_features *= size
        layers += [nn.Linear(in_features, out_features), nn.Sigmoid()]
        self.mlp = nn.Sequential(*layers)

    def forward(self, capsules: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        """Args:
            capsules: Class capsules ``(B, N, D)``.
            mask: ``(B, N)`` weights, 1 for the capsules to decode and 0 for
                the others (a one-hot label in the paper).

        Returns:
            Reconstructions ``(B, *out_shape)`` in ``[0, 1]``.
        """
        expected = (self.num_capsules, self.capsule_dim)
        if capsules.dim() != 3 or capsules.shape[1:] != expected:
            raise ValueError(f'CapsuleDecoder expects capsules (B, '
                             f'{expected[0]}, {expected[1]}), got '
                             f'{tuple(capsules.shape)}')
        if mask.shape != capsules.shape[:2]:
            raise ValueError(f'CapsuleDecoder: mask of shape '
                             f'{tuple(mask.shape)} does not match capsules '
                             f'{tuple(capsules.shape[:2])}')
        masked = capsules * mask.unsqueeze(-1).to(capsules.dtype)
        out = self.mlp(masked.flatten(1))
        return out.view(-1, *self.out_shape)
