"""Non-iterative self-attention routing of Efficient-CapsNet.

Mazzia, Salvetti & Chiaberge (2021), "Efficient-CapsNet: capsule network
with self-attention routing", Scientific Reports 11:14634, with the axes
of the official code (``FCCaps`` in ``utils/layers.py`` of
github.com/EscVM/Efficient-CapsNet).
"""
import math
from typing import Tuple

import torch
import torch.nn as nn
from mmpretrain.registry import MODELS

from ..utils import squash, squash_efficient
from .base_routing import BaseRouting

__all__ = ['SelfAttentionRouting']

_SQUASHES = {'efficient': squash_efficient, 'sabour': squash}


@MODELS.register_module()
class SelfAttentionRouting(BaseRouting):
    """Self-attention routing: one pass, no iterations.

    ``(B, N_out, N_in, D_out) -> (B, N_out, D_out)``. For each output
    capsule ``j``, with its votes ``U_j = (u_hat_j|1, ..., u_hat_j|N_in)``
    (``N_in x D_out``):

    - self-attention ``A_j = U_j U_j^T / sqrt(D_out)`` (``N_in x N_in``);
    - coupling ``c_ij = softmax_j(sum_k A_j[i, k])``, normalised over the
      OUTPUT capsules ``j`` like dynamic routing's (the official code's
      ``tf.nn.softmax(c, axis=1)`` on ``(B, N_out, N_in, 1)``): ``sum_j
      c_ij = 1`` for each input capsule ``i``;
    - ``s_j = sum_i (c_ij + b_ij) u_hat_j|i`` with learned log priors
      ``b`` (``N_out x N_in``, zero at initialisation) added to the
      coupling after the softmax, as in the official code;
    - ``v_j = squash_efficient(s_j)``.

    The row sums are computed as ``sum_k A_j[i, k] = u_hat_j|i . (sum_k
    u_hat_j|k) / sqrt(D_out)``, without forming ``A_j``: ``O(N_in)`` memory
    and ``O(N_in D_out)`` multiply-adds per output capsule instead of
    ``O(N_in^2)`` and ``O(N_in^2 D_out)`` (for the paper CapsNet's 1152
    primary capsules, ``A`` would take 53 MB per image in float32). The
    routing runs in at least float32, outside autocast; the agreement is
    taken against the vote sum divided by its largest component and
    rescaled after the softmax's shift, so that it cannot overflow where
    ``u_hat . sum u_hat`` would (from ``|u_hat| ~ 1e17`` in float32):
    outputs are finite for any votes whose weighted sums fit float32.

    Parameters: ``N_out * N_in`` log priors (Efficient-CapsNet's MNIST
    FCCaps: 10 * 16 = 160; the paper CapsNet's DigitCaps: 10 * 1152 =
    11,520).

    The input activations are not used: the votes' agreement alone weighs
    them.

    Args:
        in_capsules: ``N_in`` (given by the capsule layer).
        out_capsules: ``N_out`` (likewise).
        out_dim: ``D_out`` (likewise).
        squash: ``'efficient'`` (the paper's :func:`squash_efficient`) or
            ``'sabour'`` (:func:`squash` of dynamic routing).
    """

    def __init__(self,
                 in_capsules: int,
                 out_capsules: int,
                 out_dim: int,
                 squash: str = 'efficient') -> None:
        super().__init__(in_capsules, out_capsules, out_dim)
        if squash not in _SQUASHES:
            raise ValueError(f'SelfAttentionRouting: squash must be one of '
                             f'{sorted(_SQUASHES)}, got {squash!r}')
        self.squash = squash
        self.log_priors = nn.Parameter(torch.zeros(out_capsules, in_capsules))

    def route(self, u_hat: torch.Tensor, activations: torch.Tensor
              ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Output capsules in ``u_hat``'s dtype and the softmax
        coefficients ``c`` (float32 or float64); the votes are weighted by
        ``c + b``."""
        dtype = torch.promote_types(u_hat.dtype, torch.float32)
        with torch.autocast(u_hat.device.type, enabled=False):
            votes = u_hat.to(dtype)
            total = votes.sum(dim=2, keepdim=True)  # (B, N_out, 1, D_out)
            scale = total.detach().abs().amax(dim=(1, 2, 3), keepdim=True)
            scale = scale.clamp_min(torch.finfo(dtype).tiny)
            # (B, N_out, N_in, D) @ (B, N_out, D, 1): the row sums of A
            # divided by scale / sqrt(D), one constant per image.
            agreement = torch.matmul(votes, (total / scale).transpose(2, 3))
            agreement = agreement.squeeze(-1)
            # softmax_j is shift invariant: shifted by the max over j the
            # logits are <= 0, so rescaling cannot give inf - inf.
            agreement = agreement - agreement.detach().amax(dim=1,
                                                            keepdim=True)
            logits = agreement * (scale.squeeze(-1) /
                                  math.sqrt(votes.shape[-1]))
            coupling = logits.softmax(dim=1)
            weights = coupling + self.log_priors.to(dtype)
            # (B, N_out, 1, N_in) @ (B, N_out, N_in, D)
            s = torch.matmul(weights.unsqueeze(2), votes).squeeze(2)
            v = _SQUASHES[self.squash](s).to(u_hat.dtype)
        return v, coupling

    def extra_repr(self) -> str:
        return f'{super().extra_repr()}, squash={self.squash!r}'
