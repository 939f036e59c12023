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

So the ``(B, N_out, N_in, D_out)`` vote tensor is never formed. The
couplings ``(b, N_in, N_out)`` exist for one chunk of images at a time,
and the products with ``W`` (projections ``W^T x`` and the contractions
they meet, ``(B, T, D_in, N_out)``, ``P * D_out / D_in`` times smaller
than the votes) run on the whole batch, so that each reads ``W`` once.
Couplings are not stored either: the logits after ``t`` iterations are
``u_hat_j|i . V_t`` with ``V_t = v_0 + ... + v_(t-1)``, so the forward
keeps per iteration only ``s_t`` ``(B, N_out, D_out)``, and the backward
recomputes each chunk's couplings from it. Images are routed
independently, so the chunk size changes nothing but speed. Outputs and
gradients are those of :class:`DynamicRouting` on the formed votes
(tested with gradcheck and against it).
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

# What an automatic chunk aims its couplings at. On a CPU about its
# last-level cache, so that the passes over a chunk run from cache: this
# routing's forward and backward alone, 1,000 classes on 32 x 7 x 7
# capsules, batch 32, timed in one process (2-core EPYC, 32 MiB of L3),
# took ~0.85 s with 3 images a chunk (24 MiB), ~0.8 s with 1 and ~1.5 s
# with 8 or 18 (128 MiB). On a GPU (not measured) larger chunks: fewer and
# larger kernels.
_CHUNK_BYTES = dict(cpu=24 * 2**20, cuda=128 * 2**20)


class _FactoredVotes:
    """The votes ``u_hat_j|tp = W_tj u_tp + o_p`` of a batch, kept as their
    factors: ``T`` weight groups of ``P`` input capsules, input capsule ``t
    * P + p`` (type-major) using the weight of group ``t`` and the offset of
    position ``p`` (``P = 1``: one matrix per capsule).

    Products with ``W`` run on the whole batch (each reads all of ``W``);
    those with the couplings ``(b, T, P, N_out)`` chunk by chunk of
    ``chunk_size`` images. Projections ``W^T x`` are kept output-last,
    ``(B, T, D_in, N_out)``, and contractions ``sum_p coef u`` are formed
    as ``(D_in x P) @ (P x N_out)``: the couplings' ``N_out`` stays the
    contiguous dimension, which the CPU does 2-3x faster than ``D_in``
    last (measured).

    Args:
        u: Inputs ``(B, T, P, D_in)``.
        weight_j: ``W`` as ``(N_out, T * D_in, D_out)``, output-major, so
            that each product with it is one batched matmul over ``j``.
        offsets: ``(P, D_out)`` or ``None``.
        chunk_size: Images per chunk.
    """

    def __init__(self, u: torch.Tensor, weight_j: torch.Tensor,
                 offsets: Optional[torch.Tensor], chunk_size: int) -> None:
        self.u = u
        self.weight_j = weight_j
        self.offsets = offsets
        self.chunk_size = chunk_size

    def pooled(self) -> '_FactoredVotes':
        """The votes summed over the positions of each group (``P = 1``),
        one chunk: the first iteration's couplings are all ``1 / N_out``,
        so its weighted sums need only these."""
        offsets = (None if self.offsets is None else self.offsets.sum(
            0, keepdim=True))
        return _FactoredVotes(
            self.u.sum(2, keepdim=True), self.weight_j, offsets,
            self.u.shape[0])

    def contract_uniform(
        self, with_offsets: bool
    ) -> Tuple[torch.Tensor, torch.Tensor, Optional[torch.Tensor]]:
        """The first iteration's couplings ``(B, T, P, N_out)``, all ``1 /
        N_out``, and their contraction over the whole batch (one chunk; on
        :meth:`pooled` votes), with the offsets' part if asked for."""
        num_out = self.weight_j.shape[0]
        coef = self.u.new_full((*self.u.shape[:3], num_out), 1 / num_out)
        x, s_offsets = self.new_contraction(with_offsets)
        self.contract(slice(None), coef, x, s_offsets)
        return coef, x, s_offsets

    def chunks(self) -> List[slice]:
        return [
            slice(start, start + self.chunk_size)
            for start in range(0, self.u.shape[0], self.chunk_size)
        ]

    def project(self, vec: torch.Tensor) -> torch.Tensor:
        """``W_tj^T x_j``: ``(B, N_out, D_out) -> (B, T, D_in, N_out)``."""
        b, t, _, d_in = self.u.shape
        # (N_out, T * D_in, D_out) @ (N_out, D_out, B)
        proj = torch.bmm(self.weight_j, vec.permute(1, 2, 0))
        return proj.view(-1, t, d_in, b).permute(3, 1, 2, 0).contiguous()

    def agreement(self, rows: slice, proj: torch.Tensor,
                  vec: torch.Tensor) -> torch.Tensor:
        """``u_hat_j|tp . x_j`` of a chunk ``(b, T, P, N_out)``, given
        ``proj = project(x)``."""
        dots = torch.matmul(self.u[rows], proj[rows])
        if self.offsets is not None:
            # (P, D_out) @ (b, D_out, N_out), the same for every group.
            dots += torch.matmul(self.offsets,
                                 vec[rows].transpose(1, 2)).unsqueeze(1)
        return dots

    def new_contraction(
        self,
        with_offsets: bool = True
    ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Buffers for :meth:`contract`: ``(N_out, B, T * D_in)`` and, for
        votes with offsets and if asked for, ``(B, N_out, D_out)``."""
        b, t, _, d_in = self.u.shape
        num_out, _, out_dim = self.weight_j.shape
        x = self.u.new_empty(num_out, b, t * d_in)
        s_offsets = (None if self.offsets is None or not with_offsets else
                     self.u.new_empty(b, num_out, out_dim))
        return x, s_offsets

    def contract(self, rows: slice, coef: torch.Tensor, x: torch.Tensor,
                 s_offsets: Optional[torch.Tensor]) -> None:
        """``x_j,t = sum_p coef_j,tp u_tp`` of a chunk into ``x[:, rows]``
        (output-major) and, given ``s_offsets``, the offsets' part of the
        weighted sum ``sum_tp coef_j,tp o_p`` into ``s_offsets[rows]``."""
        c = torch.matmul(self.u[rows].transpose(-1, -2), coef)
        b, t, d_in, num_out = c.shape
        x[:, rows] = c.permute(3, 0, 1, 2).reshape(num_out, b, t * d_in)
        if s_offsets is not None:
            s_offsets[rows] = torch.matmul(
                coef.sum(1).transpose(1, 2), self.offsets)

    def weighted_sum(self, x: torch.Tensor,
                     s_offsets: Optional[torch.Tensor]) -> torch.Tensor:
        """``sum_tp coef_j,tp u_hat_j|tp`` ``(B, N_out, D_out)`` from the
        contraction of the couplings."""
        # (N_out, B, T * D_in) @ (N_out, T * D_in, D_out)
        s = torch.bmm(x, self.weight_j).transpose(0, 1)
        return s if s_offsets is None else s + s_offsets

    def weight_grad(self, x: torch.Tensor, vec: torch.Tensor) -> torch.Tensor:
        """``sum_b x_j,t vec_j^T``: ``W``'s gradient (``weight_j``'s layout)
        from the votes' ``dL/du_hat_j|tp = coef_j,tp vec_j``, given ``x``
        the contraction of ``coef``."""
        # (N_out, T * D_in, B) @ (N_out, B, D_out)
        return torch.bmm(x.transpose(1, 2), vec.transpose(0, 1))


def _input_grad(proj: torch.Tensor, coef: torch.Tensor) -> torch.Tensor:
    """``dL/du_tp = sum_j coef_j,tp W_tj^T vec_j`` ``(b, T, P, D_in)``,
    given ``proj = project(vec)``, as ``(D_in x N_out) @ (N_out x P)`` (the
    couplings' ``N_out`` contiguous)."""
    return torch.matmul(proj, coef.transpose(-1, -2)).transpose(-1, -2)


def _route(votes: _FactoredVotes, num_iterations: int,
           s_all: torch.Tensor) -> torch.Tensor:
    """Route the batch, writing ``s_t`` of each iteration into
    ``s_all[t]``; returns ``V`` of the last iteration."""
    v_sum = torch.zeros_like(s_all[0])
    for it in range(num_iterations):
        if it == 0:
            pooled = votes.pooled()
            _, x, s_offsets = pooled.contract_uniform(with_offsets=True)
            s = pooled.weighted_sum(x, s_offsets)
        else:
            proj = votes.project(v_sum)
            x, s_offsets = votes.new_contraction()
            for rows in votes.chunks():
                coupling = votes.agreement(rows, proj, v_sum).softmax(-1)
                votes.contract(rows, coupling, x, s_offsets)
            s = votes.weighted_sum(x, s_offsets)
        s_all[it] = s
        if it < num_iterations - 1:
            v_sum = v_sum + squash(s)
    return v_sum


def _backward(votes: _FactoredVotes, s_all: torch.Tensor,
              grad_v: torch.Tensor, detach_intermediate: bool,
              grad_u: torch.Tensor, grad_w_j: torch.Tensor) -> None:
    """Backward of the routing: ``s_all`` the ``s_t``, ``grad_v`` ``dL/dv``
    of the output; adds to ``grad_u`` and ``grad_w_j``."""
    r = len(s_all)
    # V_t = v_0 + ... + v_(t-1): the logits of iteration t are u_hat . V_t.
    v_sums = [torch.zeros_like(s_all[0])]
    for it in range(r - 1):
        v_sums.append(v_sums[-1] + squash(s_all[it]))
    # With detached intermediate iterations, the votes reach the output
    # only through the last weighted sum.
    first = r - 1 if detach_intermediate else 0
    grad_later = None  # dL/dv_t through the logits of later iterations
    for t in reversed(range(first, r)):
        grad_s = _squash_backward(s_all[t],
                                  grad_v if t == r - 1 else grad_later)
        if t == 0:
            # Constant couplings; grad_u gets the same for every position.
            pooled = votes.pooled()
            coef, x, _ = pooled.contract_uniform(with_offsets=False)
            grad_u += _input_grad(pooled.project(grad_s), coef)
            grad_w_j += pooled.weight_grad(x, grad_s)
            continue
        # Through the logits too, unless the couplings come from detached
        # votes.
        through_logits = t > first
        proj_v = votes.project(v_sums[t])
        proj_g = votes.project(grad_s)
        x_c, _ = votes.new_contraction(with_offsets=False)
        if through_logits:
            x_b, s_offsets_b = votes.new_contraction()
        for rows in votes.chunks():
            coupling = votes.agreement(rows, proj_v, v_sums[t]).softmax(-1)
            # dL/du_hat_j|i = c_ij dL/ds_j (+ dL/db_ij V_j below)
            votes.contract(rows, coupling, x_c, None)
            grad_u[rows] += _input_grad(proj_g[rows], coupling)
            if not through_logits:
                continue
            # dL/dc_ij = u_hat_j|i . dL/ds_j, through the softmax over j
            grad_c = votes.agreement(rows, proj_g, grad_s)
            grad_logits = torch.ops.aten._softmax_backward_data(
                grad_c, coupling, -1, coupling.dtype)
            del coupling, grad_c
            votes.contract(rows, grad_logits, x_b, s_offsets_b)
            grad_u[rows] += _input_grad(proj_v[rows], grad_logits)
        grad_w_j += votes.weight_grad(x_c, grad_s)
        if through_logits:
            # b_ij = u_hat_j|i . V_j: dL/dV_j = sum_i dL/db_ij u_hat_j|i
            grad_w_j += votes.weight_grad(x_b, v_sums[t])
            grad_v_sum = votes.weighted_sum(x_b, s_offsets_b)
            grad_later = (grad_v_sum
                          if grad_later is None else grad_later + grad_v_sum)


def auto_chunk_size(num_groups: int,
                    num_positions: int,
                    in_dim: int,
                    num_out: int,
                    itemsize: int = 4,
                    device_type: str = 'cpu') -> int:
    """Images per chunk such that a chunk's couplings ``(b, N_in, N_out)``
    and contractions ``(b, T, D_in, N_out)`` take about 24 MiB on a CPU
    and 128 MiB on other devices (at least one image)."""
    per_image = num_out * num_groups * (num_positions + in_dim) * itemsize
    target = _CHUNK_BYTES['cpu' if device_type == 'cpu' else 'cuda']
    return max(1, target // per_image)


class _LeanDynamicRoutingFunction(torch.autograd.Function):
    """Dynamic routing on factored votes, with a hand-written backward that
    recomputes the couplings chunk by chunk (see the module docstring).
    Double backward is not supported."""

    @staticmethod
    def forward(ctx, u: torch.Tensor, weight: torch.Tensor,
                offsets: Optional[torch.Tensor], num_iterations: int,
                detach_intermediate: bool, chunk_size: int):
        dtype = torch.promote_types(
            torch.promote_types(u.dtype, weight.dtype), torch.float32)
        b, num_out, out_dim = u.shape[0], weight.shape[2], weight.shape[3]
        with torch.autocast(u.device.type, enabled=False):
            votes = _FactoredVotes(
                u.to(dtype), _output_major(weight.to(dtype)),
                None if offsets is None else offsets.to(dtype), chunk_size)
            s_all = u.new_empty(num_iterations, b, num_out, out_dim,
                                dtype=dtype)
            v_sum = _route(votes, num_iterations, s_all)
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
        with torch.autocast(u.device.type, enabled=False):
            votes = _FactoredVotes(
                u.to(dtype), _output_major(weight.to(dtype)),
                None if offsets is None else offsets.to(dtype),
                ctx.chunk_size)
            grad_u = torch.zeros_like(votes.u)
            grad_w_j = torch.zeros_like(votes.weight_j)
            _backward(votes, s_all, grad_v.to(dtype), ctx.detach_intermediate,
                      grad_u, grad_w_j)
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
    ``num_iterations + 1`` tensors ``(B, N_out, D_out)``, four projections
    and contractions ``(B, T, D_in, N_out)`` and a chunk's couplings, a few
    times ``chunk_size * N_out * T * P`` floats; never ``B * N_out * N_in *
    D_out``.

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
        chunk_size = auto_chunk_size(
            *(int(n) for n in u.shape[1:]),
            int(weight.shape[2]),
            device_type=u.device.type)
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
            None if offsets is None else offsets.to(dtype), u.shape[0])
        everything = slice(None)
        coupling = votes.agreement(everything, votes.project(v_sum),
                                   v_sum).softmax(-1)
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
