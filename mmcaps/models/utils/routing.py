"""Routing algorithms between capsule layers.

A routing module turns prediction vectors ``u_hat`` of shape
``(B, N_out, N_in, D_out)`` (``u_hat[b, j, i]`` is input capsule ``i``'s vote
for output capsule ``j``) into output capsules ``(B, N_out, D_out)``. The
layout keeps each output capsule's votes contiguous so that the weighted sum
and the agreement are plain batched matrix products.
"""
import inspect
import math
from abc import ABCMeta, abstractmethod
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmpretrain.registry import MODELS

from .squash import squash

__all__ = ['BaseRouting', 'DynamicRouting', 'build_routing']


class BaseRouting(nn.Module, metaclass=ABCMeta):
    """Base class of routing algorithms.

    ``(B, N_out, N_in, D_out) -> (B, N_out, D_out)``.

    A routing whose ``__init__`` takes ``in_capsules``, ``out_capsules`` or
    ``out_dim`` gets them from the capsule layer that builds it (e.g. for
    parameters shaped like the layer). One with ``uses_activations = True``
    is also given the input capsules' activations ``(B, N_in)`` (their
    lengths, for vector capsules) as ``activations``.
    """

    uses_activations: bool = False

    @abstractmethod
    def forward(
        self,
        u_hat: torch.Tensor,
        return_coupling: bool = False,
        activations: Optional[torch.Tensor] = None
    ) -> Union[torch.Tensor, Tuple[torch.Tensor, torch.Tensor]]:
        """``(B, N_out, N_in, D_out) -> (B, N_out, D_out)``, and with
        ``return_coupling`` the coefficients ``(B, N_out, N_in)`` (the share
        of each input capsule sent to each output capsule)."""

    @abstractmethod
    def multiply_adds(self, u_hat_shape: Sequence[int]) -> int:
        """Multiply-adds of one forward pass on prediction vectors of shape
        ``(B, N_out, N_in, D_out)``, for FLOP counters that cannot see
        inside the routing."""


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

    With logits ``b_ij = 0``, repeat ``num_iterations`` times:
    ``c_i = softmax_j(b_i)`` (over the OUTPUT capsules), ``s_j = sum_i c_ij
    u_hat_j|i``, ``v_j = squash(s_j)`` and, except after the last iteration,
    ``b_ij += u_hat_j|i . v_j``. No parameters.

    Args:
        num_iterations: Routing iterations ``r`` (the paper: 1 or 3).
        detach_intermediate: Use ``u_hat.detach()`` in all but the final
            iteration, so gradients reach ``u_hat`` only through the last
            weighted sum. This changes the gradients (it is not the paper's
            behaviour, which the official code and this default follow) and
            saves time and memory.
    """

    def __init__(self, num_iterations: int = 3,
                 detach_intermediate: bool = False) -> None:
        super().__init__()
        if (not isinstance(num_iterations, int)
                or isinstance(num_iterations, bool) or num_iterations < 1):
            raise ValueError('DynamicRouting: num_iterations must be a '
                             f'positive integer, got {num_iterations!r}')
        self.num_iterations = num_iterations
        self.detach_intermediate = detach_intermediate

    def forward(
        self,
        u_hat: torch.Tensor,
        return_coupling: bool = False,
        activations: Optional[torch.Tensor] = None
    ) -> Union[torch.Tensor, Tuple[torch.Tensor, torch.Tensor]]:
        """Route prediction vectors to output capsules.

        Args:
            u_hat: Prediction vectors ``(B, N_out, N_in, D_out)``.
            return_coupling: Also return the coupling coefficients used in
                the final iteration.
            activations: Unused: dynamic routing weighs the votes by their
                length alone.

        Returns:
            Output capsules ``(B, N_out, D_out)``, and with
            ``return_coupling`` the coefficients ``(B, N_out, N_in)``, which
            sum to 1 over ``N_out``.
        """
        if u_hat.dim() != 4:
            raise ValueError('DynamicRouting expects prediction vectors of '
                             'shape (B, N_out, N_in, D_out), got '
                             f'{tuple(u_hat.shape)}')
        v, coupling = _DynamicRoutingFunction.apply(
            u_hat, self.num_iterations, self.detach_intermediate)
        if return_coupling:
            return v, coupling
        return v

    def multiply_adds(self, u_hat_shape: Sequence[int]) -> int:
        """``num_iterations`` weighted sums and ``num_iterations - 1``
        agreements, each ``B * N_out * N_in * D_out``."""
        return (2 * self.num_iterations - 1) * math.prod(u_hat_shape)

    def extra_repr(self) -> str:
        return (f'num_iterations={self.num_iterations}, '
                f'detach_intermediate={self.detach_intermediate}')


def build_routing(cfg: Optional[dict], **layer_args: int) -> BaseRouting:
    """Build a routing module from a config dict, with a clear error for an
    unknown or non-routing ``type``.

    Args:
        cfg: e.g. ``dict(type='DynamicRouting', num_iterations=3)``.
        **layer_args: The capsule layer's ``in_capsules``, ``out_capsules``
            and ``out_dim``, passed to the routing's ``__init__`` where it
            takes them and ``cfg`` does not set them.

    Returns:
        The routing module.
    """
    if cfg is None:
        cfg = dict(type='DynamicRouting')
    if isinstance(cfg, BaseRouting):
        return cfg
    routing_type = cfg.get('type')
    cls = MODELS.get(routing_type) if isinstance(routing_type, str) else (
        routing_type)
    if not (isinstance(cls, type) and issubclass(cls, BaseRouting)):
        known = sorted(
            name for name, c in MODELS.module_dict.items()
            if isinstance(c, type) and issubclass(c, BaseRouting))
        raise ValueError(f'Unknown routing type {routing_type!r}; '
                         f'registered routing algorithms: {known}')
    params = inspect.signature(cls.__init__).parameters
    default_args = {k: v for k, v in layer_args.items() if k in params}
    return MODELS.build(cfg, default_args=default_args)
