"""Fully connected capsule layer (DigitCaps)."""
from typing import Optional, Tuple, Union

import torch
import torch.nn as nn
from mmpretrain.registry import MODELS

from mmcaps.utils.validation import check_int, check_number

from ..routings import build_routing
from ..utils import capsule_length

__all__ = ['CapsuleLayer']


@MODELS.register_module()
class CapsuleLayer(nn.Module):
    """Capsule layer with one transformation matrix per (input, output) pair.

    Prediction vectors ``u_hat_j|i = W_ij u_i`` are routed to the output
    capsules by a swappable routing module.
    ``(B, N_in, D_in) -> (B, N_out, D_out)``.

    Parameters: ``N_in * N_out * D_in * D_out`` (the paper's DigitCaps:
    1152 * 10 * 8 * 16 = 1,474,560); no bias.

    The prediction tensor ``(B, N_out, N_in, D_out)`` is the layer's memory
    cost: ``B * N_out * N_in * D_out * 4`` bytes in fp32 (737 KiB per image
    for DigitCaps), linear in the batch; ``W`` itself is never expanded per
    image.

    Args:
        in_capsules: ``N_in``.
        in_dim: ``D_in``.
        out_capsules: ``N_out``.
        out_dim: ``D_out``.
        routing: Config of the routing module (``type`` names a registered
            routing algorithm, e.g. ``DynamicRouting``).
        init_std: Standard deviation of ``W``'s initialisation, a normal
            distribution truncated at two standard deviations (the official
            code's ``weight_variable``: 0.1). With many input capsules a
            smaller one is needed: 0.1 makes every class capsule ~0.98 long
            at initialisation with 3,200 or 4,608 primary capsules (measured
            on MultiMNIST and 40x40 MNIST), 0.01 trains there.
    """

    def __init__(self,
                 in_capsules: int,
                 in_dim: int,
                 out_capsules: int,
                 out_dim: int,
                 routing: Optional[dict] = None,
                 init_std: float = 0.1) -> None:
        super().__init__()
        self.in_capsules = check_int('CapsuleLayer', 'in_capsules',
                                     in_capsules)
        self.in_dim = check_int('CapsuleLayer', 'in_dim', in_dim)
        self.out_capsules = check_int('CapsuleLayer', 'out_capsules',
                                      out_capsules)
        self.out_dim = check_int('CapsuleLayer', 'out_dim', out_dim)
        # Stored as (N_in, D_in, N_out * D_out) so that all votes of a batch
        # are one batched matmul over the input capsules.
        self.weight = nn.Parameter(
            torch.empty(in_capsules, in_dim, out_capsules * out_dim))
        self.init_std = check_number('CapsuleLayer', 'init_std', init_std,
                                     minimum=0, strict_minimum=True)
        self.routing = build_routing(routing, in_capsules, out_capsules,
                                     out_dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.trunc_normal_(self.weight, std=self.init_std,
                              a=-2 * self.init_std, b=2 * self.init_std)

    def predictions(self, u: torch.Tensor) -> torch.Tensor:
        """Prediction vectors.

        ``(B, N_in, D_in) -> (B, N_out, N_in, D_out)``.
        """
        if u.dim() != 3 or u.shape[1:] != (self.in_capsules, self.in_dim):
            raise ValueError(
                f'CapsuleLayer expects capsules of shape (B, '
                f'{self.in_capsules}, {self.in_dim}), got {tuple(u.shape)}; '
                'check that the input image size and the primary capsule '
                'grid match in_capsules')
        b = u.shape[0]
        # (N_in, B, D_in) @ (N_in, D_in, N_out * D_out)
        u_hat = torch.bmm(u.transpose(0, 1), self.weight)
        return u_hat.view(self.in_capsules, b, self.out_capsules,
                          self.out_dim).permute(1, 2, 0, 3).contiguous()

    def forward(
        self,
        u: torch.Tensor,
        return_coupling: bool = False
    ) -> Union[torch.Tensor, Tuple[torch.Tensor, torch.Tensor]]:
        """Args:
            u: Input capsules ``(B, N_in, D_in)``.
            return_coupling: Also return the routing's coupling coefficients
                ``(B, N_out, N_in)``.

        Returns:
            Output capsules ``(B, N_out, D_out)`` (and the coefficients).
        """
        return self.routing(self.predictions(u), capsule_length(u),
                            return_coupling)

    def extra_repr(self) -> str:
        return (f'in_capsules={self.in_capsules}, in_dim={self.in_dim}, '
                f'out_capsules={self.out_capsules}, out_dim={self.out_dim}')
