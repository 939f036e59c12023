"""Dynamic routing with the votes fused in: the memory-lean path of
:class:`~mmcaps.models.layers.CapsuleLayer` (``votes='lean'``).

Dynamic routing uses the votes ``u_hat_j|i = W_ij u_i + o_i`` only in
weighted sums over the input capsules and in dot products with
output-sized vectors, and both factor through ``W``:

- ``s_j = sum_i c_ij u_hat_j|i = sum_t W_tj (sum_p c_j,tp u_tp) + sum_i
  c_ij o_i``: the couplings are contracted with the ``D_in``-dimensional
  inputs before ``W`` is applied (for ``W`` shared by the ``P`` positions
  of a type ``t``, ``P`` times fewer products than forming the votes);
- ``u_hat_j|i . x_j = u_i . (W_ij^T x_j) + o_i . x_j``: the output-sized
  vector ``x_j`` (an output capsule, a gradient) is projected back
  through ``W`` instead.

So the ``(B, N_out, N_in, D_out)`` vote tensor is never formed, and the
largest tensors are the couplings of one chunk of images, ``(b, N_in,
N_out)``, ``D_out`` times smaller per image. Couplings are not stored
either: the logits after ``t`` iterations are ``u_hat_j|i . V_t`` with
``V_t = v_0 + ... + v_(t-1)``, so the forward keeps per iteration only
``s_t`` ``(B, N_out, D_out)``, and the backward recomputes each chunk's
couplings from it. Images are routed independently, so chunking the batch
changes nothing but the order of the float additions of ``W``'s
gradient. Outputs and gradients are those of :class:`DynamicRouting` on
the formed votes (tested with gradcheck and against it).
"""
from typing import Any, List, Optional, Tuple, Union

import torch
from mmengine.analysis.jit_handles import get_shape

from ..utils import squash
from .dynamic_routing import _squash_backward

__all__ = [
    'auto_chunk_size', 'lean_dynamic_routing', 'lean_dynamic_routing_flop_jit',
    'lean_dynamic_routing_macs'
]

# What an automatic chunk aims its couplings and projections at.
_CHUNK_BYTES = 128 * 2**20


class _FactoredVotes:
    """The votes ``u_hat_j|tp = W_tj u_tp + o_p`` of a chunk of images, kept
    as their factors: ``T`` weight groups of ``P`` input capsules, input
    capsule ``t * P + p`` (type-major) using the weight of group ``t`` and
    the offset of position ``p`` (``P = 1``: one matrix per capsule).

    Args:
        u: Inputs ``(b, T, P, D_in)``.
        weight_j: ``W`` as ``(N_out, T * D_in, D_out)``, output-major, so
            that each product with it is one batched matmul over ``j``.
        offsets: ``(P, D_out)`` or ``None``.
    """

    def __init__(self, u: torch.Tensor, weight_j: torch.Tensor,
                 offsets: Optional[torch.Tensor]) -> None:
        self.u = u
        self.weight_j = weight_j
        self.offsets = offsets

    def project(self, vec: torch.Tensor) -> torch.Tensor:
        """``W_tj^T x_j``: ``(b, N_out, D_out) -> (b, T, N_out, D_in)``."""
        b, t, _, d_in = self.u.shape
        # (N_out, T * D_in, D_out) @ (N_out, D_out, b), made contiguous in
        # the layout of the matmuls with u (b, T, P, D_in) that use it.
        proj = torch.bmm(self.weight_j, vec.permute(1, 2, 0))
        return proj.view(-1, t, d_in, b).permute(3, 1, 0, 2).contiguous()

    def agreement(self, vec: torch.Tensor) -> Tuple[torch.Tensor,
                                                    torch.Tensor]:
        """``u_hat_j|tp . x_j``: ``(b, N_out, D_out) -> (b, T, P, N_out)``,
        and the projection ``W^T x`` ``(b, T, N_out, D_in)``."""
        proj = self.project(vec)
        dots = torch.matmul(self.u, proj.transpose(-1, -2))
        if self.offsets is not None:
            # (P, D_out) @ (b, D_out, N_out), the same for every group.
            dots += torch.matmul(self.offsets,
                                 vec.transpose(1, 2)).unsqueeze(1)
        return dots, proj

    def coupling(self, v_sum: torch.Tensor) -> Tuple[torch.Tensor,
                                                     torch.Tensor]:
        """``softmax_j(u_hat_j|i . V_j)`` ``(b, T, P, N_out)`` and the
        projection of ``V``."""
        logits, proj = self.agreement(v_sum)
        return logits.softmax(-1), proj

    def contract(self, coef: torch.Tensor) -> torch.Tensor:
        """``sum_p coef_j,tp u_tp``: ``(b, T, P, N_out) -> (b, T, N_out,
        D_in)``."""
        return torch.matmul(coef.transpose(-1, -2), self.u)

    def weighted_sum(self, coef: torch.Tensor,
                     x: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``sum_tp coef_j,tp u_hat_j|tp``: ``(b, T, P, N_out) -> (b, N_out,
        D_out)``, from the contraction ``x`` (computed if not given)."""
        if x is None:
            x = self.contract(coef)
        b, t, n_out, d_in = x.shape
        # (N_out, b, T * D_in) @ (N_out, T * D_in, D_out)
        s = torch.bmm(x.permute(2, 0, 1, 3).reshape(n_out, b, t * d_in),
                      self.weight_j).transpose(0, 1)
        if self.offsets is not None:
            s = s + torch.matmul(coef.sum(1).transpose(1, 2), self.offsets)
        return s

    def add_grads(self, coef: torch.Tensor, x: torch.Tensor,
                  proj: torch.Tensor, vec: torch.Tensor,
                  grad_u: torch.Tensor, grad_w_j: torch.Tensor) -> None:
        """Add the gradients of the votes' ``dL/du_hat_j|tp = coef_j,tp
        vec_j`` to ``grad_u`` ``(b, T, P, D_in)`` (broadcast over ``P``
        for pooled votes) and ``grad_w_j`` (``weight_j``'s layout), given
        ``x = contract(coef)`` and ``proj = project(vec)``."""
        # dL/du_tp = sum_j coef_j,tp W_tj^T vec_j
        grad_u += torch.matmul(coef, proj)
        # dL/dW_tj = sum_b x_j,t vec_j^T
        b, t, n_out, d_in = x.shape
        # (CPU's in-place baddbmm_ loops over the batch: bmm is faster.)
        grad_w_j += torch.bmm(
            x.permute(2, 1, 3, 0).reshape(n_out, t * d_in, b),
            vec.transpose(0, 1))


def _first_iteration(votes: _FactoredVotes
                     ) -> Tuple[_FactoredVotes, torch.Tensor]:
    """The first iteration's logits are 0, so every coupling is ``1 /
    N_out``: its weighted sums need only the votes summed over the
    positions of each group. Returns those (``P = 1``) and the couplings
    ``(b, T, 1, N_out)``."""
    u_sum = votes.u.sum(2, keepdim=True)
    offsets = (None if votes.offsets is None else votes.offsets.sum(
        0, keepdim=True))
    num_out = votes.weight_j.shape[0]
    coef = u_sum.new_full((*u_sum.shape[:3], num_out), 1 / num_out)
    return _FactoredVotes(u_sum, votes.weight_j, offsets), coef


def _route_chunk(votes: _FactoredVotes, num_iterations: int,
                 s_out: List[torch.Tensor]) -> torch.Tensor:
    """Route one chunk of images, writing ``s_t`` of each iteration into
    ``s_out[t]``; returns ``V`` of the last iteration."""
    v_sum = torch.zeros_like(s_out[0])
    for it in range(num_iterations):
        if it == 0:
            pooled, coef = _first_iteration(votes)
            s = pooled.weighted_sum(coef)
        else:
            s = votes.weighted_sum(votes.coupling(v_sum)[0])
        s_out[it].copy_(s)
        if it < num_iterations - 1:
            v_sum = v_sum + squash(s)
    return v_sum


def _backward_chunk(votes: _FactoredVotes, s_all: List[torch.Tensor],
                    grad_v: torch.Tensor, detach_intermediate: bool,
                    grad_u: torch.Tensor, grad_w_j: torch.Tensor) -> None:
    """Backward of one chunk of images: ``s_all`` its ``s_t``, ``grad_v``
    ``dL/dv`` of the output; adds to ``grad_u`` (the chunk's) and
    ``grad_w_j``."""
    r = len(s_all)
    # V_t = v_0 + ... + v_(t-1): the logits of iteration t are u_hat . V_t.
    v_sums = [torch.zeros_like(s_all[0])]
    for s in s_all[:-1]:
        v_sums.append(v_sums[-1] + squash(s))
    # With detached intermediate iterations, the votes reach the output
    # only through the last weighted sum.
    first = r - 1 if detach_intermediate else 0
    grad_later = None  # dL/dv_t through the logits of later iterations
    for t in reversed(range(first, r)):
        grad_s = _squash_backward(s_all[t],
                                  grad_v if t == r - 1 else grad_later)
        if t == 0:
            # Constant couplings; grad_u gets the same for every position.
            pooled, coef = _first_iteration(votes)
            pooled.add_grads(coef, pooled.contract(coef),
                             pooled.project(grad_s), grad_s, grad_u,
                             grad_w_j)
            continue
        coupling, proj_v = votes.coupling(v_sums[t])
        proj_g = votes.project(grad_s)
        x_c = votes.contract(coupling)
        # dL/du_hat_j|i = c_ij dL/ds_j (+ dL/db_ij V_j below)
        votes.add_grads(coupling, x_c, proj_g, grad_s, grad_u, grad_w_j)
        if t == first:
            # Couplings from detached votes: no gradient through them.
            continue
        # dL/dc_ij = u_hat_j|i . dL/ds_j, through the softmax over j
        grad_c = torch.matmul(votes.u, proj_g.transpose(-1, -2))
        if votes.offsets is not None:
            grad_c += torch.matmul(votes.offsets,
                                   grad_s.transpose(1, 2)).unsqueeze(1)
        grad_logits = torch.ops.aten._softmax_backward_data(
            grad_c, coupling, -1, coupling.dtype)
        del coupling, grad_c
        x_b = votes.contract(grad_logits)
        # b_ij = u_hat_j|i . V_j: dL/dV_j = sum_i dL/db_ij u_hat_j|i
        grad_v_sum = votes.weighted_sum(grad_logits, x_b)
        votes.add_grads(grad_logits, x_b, proj_v, v_sums[t], grad_u,
                        grad_w_j)
        grad_later = (grad_v_sum
                      if grad_later is None else grad_later + grad_v_sum)


def auto_chunk_size(num_groups: int, num_positions: int, in_dim: int,
                    num_out: int, itemsize: int = 4) -> int:
    """Images per chunk such that a chunk's couplings ``(b, N_in, N_out)``
    and projections ``(b, T, N_out, D_in)`` take about 128 MiB (at least
    one image)."""
    per_image = num_out * num_groups * (num_positions + in_dim) * itemsize
    return max(1, _CHUNK_BYTES // per_image)


class _LeanDynamicRoutingFunction(torch.autograd.Function):
    """Dynamic routing on factored votes, chunk by chunk of images, with a
    hand-written backward that recomputes the couplings (see the module
    docstring). Double backward is not supported."""

    @staticmethod
    def forward(ctx, u: torch.Tensor, weight: torch.Tensor,
                offsets: Optional[torch.Tensor], num_iterations: int,
                detach_intermediate: bool, chunk_size: int):
        dtype = torch.promote_types(
            torch.promote_types(u.dtype, weight.dtype), torch.float32)
        b, num_out, out_dim = u.shape[0], weight.shape[2], weight.shape[3]
        with torch.autocast(u.device.type, enabled=False):
            weight_j = _output_major(weight.to(dtype))
            offsets_ = None if offsets is None else offsets.to(dtype)
            s_all = u.new_empty(num_iterations, b, num_out, out_dim,
                                dtype=dtype)
            v_sum = torch.empty_like(s_all[0])
            for start in range(0, b, chunk_size):
                rows = slice(start, start + chunk_size)
                votes = _FactoredVotes(u[rows].to(dtype), weight_j, offsets_)
                # Indexed, not iterated: unbinding a tensor inside the
                # function puts its ops into a jit trace's outer graph.
                v_sum[rows] = _route_chunk(
                    votes, num_iterations,
                    [s_all[it, rows] for it in range(num_iterations)])
            v = squash(s_all[-1])
        ctx.save_for_backward(u, weight, offsets, s_all)
        ctx.detach_intermediate = detach_intermediate
        ctx.chunk_size = chunk_size
        ctx.mark_non_differentiable(v_sum)
        return v.to(torch.promote_types(u.dtype, weight.dtype)), v_sum

    @staticmethod
    def backward(ctx, grad_v: torch.Tensor, _grad_v_sum: torch.Tensor):
        u, weight, offsets, s_all = ctx.saved_tensors
        dtype = s_all.dtype
        chunk_size = ctx.chunk_size
        with torch.autocast(u.device.type, enabled=False):
            weight_j = _output_major(weight.to(dtype))
            offsets_ = None if offsets is None else offsets.to(dtype)
            grad_u = u.new_empty(u.shape, dtype=dtype)
            grad_w_j = torch.zeros_like(weight_j)
            grad_v = grad_v.to(dtype)
            for start in range(0, u.shape[0], chunk_size):
                rows = slice(start, start + chunk_size)
                votes = _FactoredVotes(u[rows].to(dtype), weight_j, offsets_)
                grad_u[rows] = 0
                _backward_chunk(votes,
                                [s_all[it, rows] for it in range(len(s_all))],
                                grad_v[rows],
                                ctx.detach_intermediate, grad_u[rows],
                                grad_w_j)
        t, d_in, num_out, out_dim = weight.shape
        grad_w = grad_w_j.view(num_out, t, d_in, out_dim).permute(1, 2, 0, 3)
        return (grad_u.to(u.dtype), grad_w.to(weight.dtype), None, None,
                None, None)


def _output_major(weight: torch.Tensor) -> torch.Tensor:
    """``(T, D_in, N_out, D_out) -> (N_out, T * D_in, D_out)``."""
    t, d_in, num_out, out_dim = weight.shape
    return weight.permute(2, 0, 1, 3).reshape(num_out, t * d_in, out_dim)


def lean_dynamic_routing(
    u: torch.Tensor,
    weight: torch.Tensor,
    offsets: Optional[torch.Tensor],
    num_iterations: int,
    detach_intermediate: bool = False,
    chunk_size: Optional[int] = None,
    return_coupling: bool = False
) -> Union[torch.Tensor, Tuple[torch.Tensor, torch.Tensor]]:
    """Dynamic routing (:class:`DynamicRouting`) of the votes
    ``u_hat_j|tp = W_tj u_tp + o_p`` without forming them.

    ``(B, T, P, D_in), (T, D_in, N_out, D_out) -> (B, N_out, D_out)``:
    ``T`` weight groups of ``P`` input capsules each (input capsule ``t *
    P + p``; ``P = 1`` for one matrix per input capsule, ``T`` capsule
    types on a grid of ``P`` positions for weights shared across the
    grid). Memory: the inputs, ``W``, its gradient in two layouts,
    ``num_iterations + 1`` tensors ``(B, N_out, D_out)``, and a chunk's
    couplings and projections, a few times ``chunk_size * N_out * T * (P +
    D_in)`` floats; never ``B * N_out * N_in * D_out``.

    Args:
        u: Input capsules ``(B, T, P, D_in)``.
        weight: ``(T, D_in, N_out, D_out)``.
        offsets: ``(P, D_out)`` added to the votes of position ``p``
            (coordinate addition), or ``None``.
        num_iterations: Routing iterations.
        detach_intermediate: As :class:`DynamicRouting`'s.
        chunk_size: Images per chunk (``None``: :func:`auto_chunk_size`).
        return_coupling: Also return the last iteration's couplings
            ``(B, N_out, N_in)`` (formed for the answer, without gradient).

    Returns:
        Output capsules ``(B, N_out, D_out)`` in the promoted dtype of
        ``u`` and ``weight`` (computed in at least float32, outside
        autocast), and with ``return_coupling`` the couplings.
    """
    if chunk_size is None:
        # Plain ints: under jit tracing sizes are traced values.
        chunk_size = auto_chunk_size(*(int(n) for n in u.shape[1:]),
                                     int(weight.shape[2]))
    v, v_sum = _LeanDynamicRoutingFunction.apply(u, weight, offsets,
                                                 num_iterations,
                                                 detach_intermediate,
                                                 chunk_size)
    if not return_coupling:
        return v
    with torch.no_grad(), torch.autocast(u.device.type, enabled=False):
        dtype = v_sum.dtype
        votes = _FactoredVotes(
            u.to(dtype), _output_major(weight.to(dtype)),
            None if offsets is None else offsets.to(dtype))
        coupling = votes.coupling(v_sum)[0]
    # (B, T, P, N_out) -> (B, N_out, T * P)
    return v, coupling.flatten(1, 2).transpose(1, 2)


def lean_dynamic_routing_macs(batch: int, num_groups: int,
                              num_positions: int, in_dim: int, num_out: int,
                              out_dim: int, num_iterations: int,
                              offsets: bool) -> int:
    """Multiply-adds of one lean routing's forward: the first iteration's
    weighted sum of the votes pooled over the positions, then per
    iteration the agreement and the weighted sum, each ``B * N_out * T *
    D_in * (P + D_out)`` (+ ``B * N_out * P * D_out`` with offsets)."""

    def product(positions: int) -> int:
        macs = batch * num_out * num_groups * in_dim * (positions + out_dim)
        if offsets:
            macs += batch * num_out * positions * out_dim
        return macs

    return product(1) + (num_iterations - 1) * 2 * product(num_positions)


def lean_dynamic_routing_flop_jit(inputs: List[Any],
                                  outputs: List[Any]) -> int:
    """Handle of mmengine's jit FLOP counter for the lean routing's
    autograd function (``prim::PythonOp._LeanDynamicRoutingFunction``):
    :func:`lean_dynamic_routing_macs` of its shapes.

    The tracer passes ``u`` and ``weight`` first, then the other tensors
    (the ``(P, D_out)`` offsets when given); ``None`` offsets and the
    integers are scalar arguments, ``num_iterations`` the first integer.
    """
    b, t, p, d_in = get_shape(inputs[0])
    _, _, num_out, out_dim = get_shape(inputs[1])
    with_offsets = any(
        len(get_shape(x) or ()) == 2 for x in inputs[2:])
    num_iterations = next(
        a for a in outputs[0].node().scalar_args()
        if isinstance(a, int) and not isinstance(a, bool))
    return lean_dynamic_routing_macs(b, t, p, d_in, num_out, out_dim,
                                     num_iterations, with_offsets)
