"""The straightforward capsule layer of public ports, kept as a reference.

It is what :class:`CapsuleLayer` is measured and tested against
(``tools/benchmark.py``, the equivalence tests): the same mathematics, with
``W`` expanded over the batch for a broadcast ``matmul`` and routing as
broadcast multiply-and-sum, gradients through every iteration.
"""
import torch
import torch.nn as nn

from mmcaps.models import CapsuleLayer, DynamicRouting, squash

__all__ = ['NaiveCapsuleLayer']


class NaiveCapsuleLayer(nn.Module):
    """Reference formulation of :class:`CapsuleLayer` with dynamic routing.

    ``(B, N_in, D_in) -> (B, N_out, D_out)``. Parameters:
    ``N_in * N_out * D_in * D_out``. Memory: the expanded ``W`` and the
    ``(B, N_in, N_out, D_out, 1)`` products are kept for backward, several
    times the fast layer's.

    Args:
        layer: The fast layer whose weights and routing iterations to copy.
    """

    def __init__(self, layer: CapsuleLayer) -> None:
        super().__init__()
        if not isinstance(layer.routing, DynamicRouting):
            raise TypeError('NaiveCapsuleLayer reproduces DynamicRouting '
                            f'only, got {type(layer.routing).__name__}')
        self.num_iterations = layer.routing.num_iterations
        n_in, d_in, n_out, d_out = (layer.in_capsules, layer.in_dim,
                                    layer.out_capsules, layer.out_dim)
        # (N_in, D_in, N_out * D_out) -> (1, N_in, N_out, D_out, D_in)
        weight = layer.weight.detach().view(n_in, d_in, n_out, d_out)
        self.weight = nn.Parameter(
            weight.permute(0, 2, 3, 1).unsqueeze(0).contiguous())

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        b = u.shape[0]
        w = self.weight.expand(b, -1, -1, -1, -1)
        # (B, N_in, N_out, D_out, D_in) @ (B, N_in, 1, D_in, 1)
        u_hat = torch.matmul(w, u[:, :, None, :, None]).squeeze(-1)
        logits = torch.zeros(*u_hat.shape[:3], 1, device=u.device,
                             dtype=u_hat.dtype)
        for it in range(self.num_iterations):
            coupling = torch.softmax(logits, dim=2)
            v = squash((coupling * u_hat).sum(dim=1))
            if it < self.num_iterations - 1:
                logits = logits + (u_hat * v[:, None]).sum(-1, keepdim=True)
        return v
