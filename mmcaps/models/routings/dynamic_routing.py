"""Routing-by-agreement of Sabour, Frosst & Hinton (2017)."""
import math
from typing import Any, List, Tuple

import torch
from mmengine.analysis.jit_handles import get_shape
from mmpretrain.registry import MODELS

from mmcaps.utils.validation import check_int

from ..utils import squash
from .base_routing import BaseRouting

__all__ = ['DynamicRouting', 'dynamic_routing_flop_jit']


def _squash_backward(s: torch.Tensor, grad_v: torch.Tensor) -> torch.Tensor:
    """``dL/ds`` from ``dL/dv`` for ``v = squash(s)`` (small tensors)."""
    with torch.enable_grad():
        s = s.detach().requires_grad_(True)
        grad_s, = torch.autograd.grad(squash(s), s, grad_v)
    return grad_s


class _DynamicRoutingFunction(torch.autograd.Function):
    """Dynamic routing with a hand-written backward.

    Autograd's backward of the batched matmuls that routing is made of
    computes the vote gradients as outer products, matmuls with an inner
    dimension of 1, which are slow on CPU and write a new ``u_hat``-sized
    tensor per iteration. Here they are accumulated in place into one
    buffer. The gradient is exactly autograd's (tested against the
    straightforward formulation and gradcheck); double backward is not
    supported.
    """

    @staticmethod
    def forward(ctx, u_hat: torch.Tensor, num_iterations: int,
                detach_intermediate: bool):
        acc_dtype = torch.promote_types(u_hat.dtype, torch.float32)
        b, n_out, n_in, _ = u_hat.shape
        # Logits accumulate over iterations: at least float32 under autocast.
        logits = u_hat.new_zeros(b, n_out, n_in, dtype=acc_dtype)
        saved = []
        for it in range(num_iterations):
            coupling = logits.softmax(dim=1)
            # (B, N_out, 1, N_in) @ (B, N_out, N_in, D_out)
            s = torch.matmul(coupling.unsqueeze(2).to(u_hat.dtype),
                             u_hat).squeeze(2)
            v = squash(s)
            saved += [coupling, s, v]
            if it < num_iterations - 1:
                # (B, N_out, N_in, D_out) @ (B, N_out, D_out, 1)
                agreement = torch.matmul(u_hat, v.unsqueeze(-1)).squeeze(-1)
                logits = logits + agreement.to(acc_dtype)
        ctx.save_for_backward(u_hat, *saved)
        ctx.num_iterations = num_iterations
        ctx.detach_intermediate = detach_intermediate
        ctx.mark_non_differentiable(coupling)
        return v, coupling

    @staticmethod
    def backward(ctx, grad_v: torch.Tensor, _grad_coupling: torch.Tensor):
        u_hat, *saved = ctx.saved_tensors
        r = ctx.num_iterations
        grad_u = torch.zeros_like(
            u_hat, dtype=torch.promote_types(u_hat.dtype, torch.float32))
        # With detached intermediate iterations, the votes reach the output
        # only through the last weighted sum.
        first = r - 1 if ctx.detach_intermediate else 0
        grad_next_logits = None  # dL/db_{t+1}, (B, N_out, N_in)
        for t in reversed(range(first, r)):
            coupling, s, v = saved[3 * t:3 * t + 3]
            if t == r - 1:
                grad_vt = grad_v
            else:
                # b_{t+1} = b_t + u_hat . v_t
                grad_vt = torch.matmul(
                    grad_next_logits.unsqueeze(2).to(u_hat.dtype),
                    u_hat).squeeze(2)
                grad_u.addcmul_(grad_next_logits.unsqueeze(-1),
                                v.unsqueeze(2))
            grad_s = _squash_backward(s, grad_vt)
            # s_t = sum_i c_t u_hat
            grad_u.addcmul_(coupling.unsqueeze(-1), grad_s.unsqueeze(2))
            if t > first:
                grad_coupling = torch.matmul(
                    u_hat, grad_s.unsqueeze(-1).to(u_hat.dtype)).squeeze(-1)
                grad_coupling = grad_coupling.to(coupling.dtype)
                # Softmax over the output capsules.
                grad_logits = coupling * (
                    grad_coupling -
                    (coupling * grad_coupling).sum(dim=1, keepdim=True))
                if grad_next_logits is not None:
                    grad_logits = grad_logits + grad_next_logits
                grad_next_logits = grad_logits
        return grad_u.to(u_hat.dtype), None, None


@MODELS.register_module()
class DynamicRouting(BaseRouting):
    """Routing-by-agreement of Sabour, Frosst & Hinton (2017), Procedure 1.

    ``(B, N_out, N_in, D_out) -> (B, N_out, D_out)``. With logits
    ``b_ij = 0``, repeat ``num_iterations`` times: ``c_i = softmax_j(b_i)``
    (over the OUTPUT capsules), ``s_j = sum_i c_ij u_hat_j|i``,
    ``v_j = squash(s_j)`` and, except after the last iteration,
    ``b_ij += u_hat_j|i . v_j``. The input activations are not used:
    dynamic routing weighs the votes by their length alone. No parameters.

    Args:
        in_capsules: ``N_in`` (given by the capsule layer).
        out_capsules: ``N_out`` (likewise).
        out_dim: ``D_out`` (likewise).
        num_iterations: Routing iterations ``r`` (the paper: 1 or 3).
        detach_intermediate: Use ``u_hat.detach()`` in all but the final
            iteration, so gradients reach ``u_hat`` only through the last
            weighted sum. This changes the gradients (it is not the paper's
            behaviour, which the official code and this default follow) and
            saves time and memory.
    """

    def __init__(self,
                 in_capsules: int,
                 out_capsules: int,
                 out_dim: int,
                 num_iterations: int = 3,
                 detach_intermediate: bool = False) -> None:
        super().__init__(in_capsules, out_capsules, out_dim)
        self.num_iterations = check_int('DynamicRouting', 'num_iterations',
                                        num_iterations)
        self.detach_intermediate = bool(detach_intermediate)

    def route(self, u_hat: torch.Tensor, activations: torch.Tensor
              ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Output capsules and the coupling coefficients of the final
        iteration."""
        return _DynamicRoutingFunction.apply(u_hat, self.num_iterations,
                                             self.detach_intermediate)

    def extra_repr(self) -> str:
        return (f'{super().extra_repr()}, '
                f'num_iterations={self.num_iterations}, '
                f'detach_intermediate={self.detach_intermediate}')


def dynamic_routing_flop_jit(inputs: List[Any], outputs: List[Any]) -> int:
    """Multiply-adds of one dynamic routing, as a handle of mmengine's
    (fvcore's) jit FLOP counter, which cannot see inside the routing's
    autograd function: ``num_iterations`` weighted sums and
    ``num_iterations - 1`` agreements, each ``B * N_out * N_in * D_out``.

    Register it as ``FlopAnalyzer(...).set_op_handle(
    'prim::PythonOp._DynamicRoutingFunction', dynamic_routing_flop_jit)``.
    """
    num_iterations = outputs[0].node().scalar_args()[0]
    return (2 * num_iterations - 1) * math.prod(get_shape(inputs[0]))
