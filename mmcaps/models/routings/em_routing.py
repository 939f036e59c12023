"""EM routing of Hinton, Sabour & Frosst (2018), "Matrix capsules with EM
routing" (ICLR), Procedure 1.

Each output capsule ``j`` is a Gaussian over the votes ``V_ij`` it gets from
the input capsules ``i`` (axis-aligned: a mean ``mu_j^h`` and a variance
``(sigma_j^h)^2`` per vote entry ``h``) and an activation ``a_j``. With the
assignment probabilities ``R_ij = 1 / N_out``, repeat ``num_iterations``
times:

- M-step, for each output capsule ``j``:
  ``R'_ij = R_ij a_i`` (``a_i``: input activations),
  ``mu_j^h = sum_i R'_ij V_ij^h / sum_i R'_ij``,
  ``(sigma_j^h)^2 = sum_i R'_ij (V_ij^h - mu_j^h)^2 / sum_i R'_ij``,
  ``cost_j^h = (beta_u + log sigma_j^h) sum_i R'_ij``,
  ``a_j = logistic(lambda (beta_a - sum_h cost_j^h))``;
- E-step, for each input capsule ``i`` (skipped after the last M-step, as
  it changes neither ``mu`` nor ``a``):
  ``p_ij = N(V_ij; mu_j, sigma_j^2)`` (product over ``h``),
  ``R_ij = a_j p_ij / sum_k a_k p_ik``: normalised over the OUTPUT
  capsules.

``beta_u`` and ``beta_a`` are learned, one each per output capsule (type).
The inverse temperature of iteration ``t = 0, 1, ...`` is
``lambda_t = final_lambda * (1 - lambda_decay^(t + 1))`` with
``final_lambda = 0.01`` and ``lambda_decay = 0.95``: the schedule the
authors gave on OpenReview (the paper says only that ``lambda`` follows a
fixed schedule); ``lambda_decay=0`` gives the fixed ``lambda = final_lambda``.
"""
import math
from typing import Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS

from mmcaps.utils.validation import check_int, check_number

from ..utils import capsule_length
from .base_routing import BaseRouting

__all__ = ['EMRouting', 'MatrixEMRouting', 'em_routing']


def _check_em_arguments(num_iterations: int, final_lambda: float,
                        lambda_decay: float, eps: float) -> None:
    """Raise a ``ValueError`` naming the first bad EM routing argument."""
    check_int('EM routing', 'num_iterations', num_iterations)
    check_number('EM routing', 'final_lambda (the inverse temperature)',
                 final_lambda, minimum=0, strict_minimum=True)
    check_number('EM routing', 'lambda_decay', lambda_decay, minimum=0,
                 maximum=1, strict_maximum=True)
    check_number('EM routing', 'eps', eps, minimum=0, maximum=1,
                 strict_minimum=True, strict_maximum=True)


def em_routing(votes: torch.Tensor,
               activations: torch.Tensor,
               beta_u: torch.Tensor,
               beta_a: torch.Tensor,
               num_iterations: int = 3,
               final_lambda: float = 0.01,
               lambda_decay: float = 0.95,
               eps: float = 1e-8
               ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """EM routing (see the module docstring for the equations).

    ``(B, N_out, N_in, D) votes, (B, N_in) activations -> (B, N_out, D)
    means, (B, N_out) activations, (B, N_out, N_in) assignments``.

    Computed in at least float32 whatever the input dtype, with autocast
    off, and in log space: the Gaussian densities enter the E-step as log
    densities and ``log a_j`` as ``logsigmoid``, so that no probability
    underflows to 0. The votes of each output capsule ``j`` (per sample)
    are divided by ``s_j = max(1, max_ih |V_ij^h|)`` (detached) and every
    quantity is put back in the original units exactly (``mu`` times
    ``s_j``, ``log sigma`` plus ``log s_j``, which also shifts the log
    densities): the squares cannot overflow for any finite vote. ``eps`` is
    added to the variances (in units of ``s_j^2``: an absolute floor for
    votes within ``[-1, 1]``, a relative one beyond) and to
    ``sum_i R'_ij``, so zero votes and inputs that are all inactive give
    finite values and gradients. Like the scale of :func:`squash`, ``s_j``
    is a constant for the gradient, which is exact except through the
    ``eps`` floor.

    Args:
        votes: ``V``, ``(B, N_out, N_in, D)``: ``votes[b, j, i]`` is input
            capsule ``i``'s vote for output capsule ``j`` (the layout of
            :class:`BaseRouting`).
        activations: Input activations ``a_i`` in ``[0, 1]``,
            ``(B, N_in)``.
        beta_u: ``beta_u``, broadcastable to ``(B, N_out)``.
        beta_a: ``beta_a``, broadcastable to ``(B, N_out)``.
        num_iterations: EM iterations (M-step + E-step; the paper: 3).
        final_lambda: The inverse temperature ``lambda`` approaches.
        lambda_decay: ``lambda_t = final_lambda * (1 - lambda_decay^(t+1))``.
        eps: Floor of the variances and of ``sum_i R'_ij``.

    Returns:
        The output capsules' means ``mu`` (their poses), ``(B, N_out, D)``,
        activations ``a_j``, ``(B, N_out)``, and the assignment
        probabilities ``R`` of the last M-step, ``(B, N_out, N_in)``, which
        sum to 1 over ``N_out``; all in at least float32.
    """
    _check_em_arguments(num_iterations, final_lambda, lambda_decay, eps)
    if votes.dim() != 4:
        raise ValueError('em_routing expects votes of shape (B, N_out, N_in, '
                         f'D), got {tuple(votes.shape)}')
    b, n_out, n_in, dim = votes.shape
    if activations.shape != (b, n_in):
        raise ValueError(f'em_routing expects activations of shape ({b}, '
                         f'{n_in}) for votes of shape {tuple(votes.shape)}, '
                         f'got {tuple(activations.shape)}')
    acc_dtype = torch.promote_types(votes.dtype, torch.float32)
    with torch.autocast(votes.device.type, enabled=False):
        v = votes.to(acc_dtype)
        scale = v.detach().abs().amax(dim=(2, 3), keepdim=True).clamp_min(1.0)
        v = v * scale.reciprocal()
        log_scale = scale.log().view(b, n_out, 1)
        a_in = activations.to(acc_dtype).unsqueeze(1)
        beta_u = beta_u.to(acc_dtype)
        beta_a = beta_a.to(acc_dtype)
        half_log_2pi = 0.5 * math.log(2 * math.pi)
        r = v.new_full((b, n_out, n_in), 1.0 / n_out)
        for t in range(num_iterations):
            inverse_temperature = final_lambda * (1.0 - lambda_decay**(t + 1))
            # M-step.
            r_active = r * a_in
            mass = r_active.sum(dim=2)  # sum_i R'_ij, (B, N_out)
            weights = (r_active / (mass.unsqueeze(2) + eps)).unsqueeze(2)
            # (B, N_out, 1, N_in) @ (B, N_out, N_in, D)
            mu = torch.matmul(weights, v)
            # v + (-mu) rather than v - mu: the backward then negates the
            # (B, N_out, 1, D) mean's gradient, not a vote-sized one.
            sq_dev = (v + mu.neg()).square()
            var = torch.matmul(weights, sq_dev) + eps
            log_sigma = 0.5 * var.log().squeeze(2) + log_scale
            cost = (beta_u.unsqueeze(-1) + log_sigma).sum(dim=2) * mass
            logit_a = inverse_temperature * (beta_a - cost)
            if t == num_iterations - 1:
                break
            # E-step: log(a_j p_ij), normalised over the outputs j.
            # (B, N_out, N_in, D) @ (B, N_out, D, 1)
            mahalanobis = torch.matmul(sq_dev,
                                       (0.5 / var).transpose(2, 3)).squeeze(3)
            log_p = -mahalanobis - (log_sigma + half_log_2pi).sum(
                dim=2, keepdim=True)
            r = torch.softmax(F.logsigmoid(logit_a).unsqueeze(2) + log_p,
                              dim=1)
        poses = mu.squeeze(2) * scale.view(b, n_out, 1)
        return poses, torch.sigmoid(logit_a), r


class _EMOptions:
    """The options and learned ``beta_u``, ``beta_a`` (one each per output
    capsule or type, initialised to 0) of the two EM routing modules."""

    def _init_em(self, num_betas: int, num_iterations: int,
                 final_lambda: float, lambda_decay: float,
                 eps: float) -> None:
        _check_em_arguments(num_iterations, final_lambda, lambda_decay, eps)
        self.num_iterations = num_iterations
        self.final_lambda = final_lambda
        self.lambda_decay = lambda_decay
        self.eps = eps
        self.beta_u = nn.Parameter(torch.zeros(num_betas))
        self.beta_a = nn.Parameter(torch.zeros(num_betas))

    def _em(self, votes: torch.Tensor, activations: torch.Tensor
            ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return em_routing(votes, activations, self.beta_u, self.beta_a,
                          self.num_iterations, self.final_lambda,
                          self.lambda_decay, self.eps)

    def _em_repr(self) -> str:
        return (f'num_iterations={self.num_iterations}, '
                f'final_lambda={self.final_lambda}, '
                f'lambda_decay={self.lambda_decay}, eps={self.eps}')


@MODELS.register_module()
class EMRouting(_EMOptions, BaseRouting):
    """EM routing (:func:`em_routing`) between vector capsule layers.

    A drop-in for dynamic routing in ``DigitCapsHead``/``CapsuleLayer``
    (``routing=dict(type='EMRouting')``): the prediction vectors are the
    votes (``D = D_out``) and the input activations the input capsules'
    lengths. Output capsule ``j`` is ``v_j = a_j mu_j / |mu_j|``: the
    direction of its mean pose, with the activation as its LENGTH, so that
    the class scores (lengths), the margin loss and the reconstruction
    decoder work unchanged (a mean shorter than ``eps`` is scaled by
    ``a_j / eps`` instead, so the zero mean gives the zero vector). The
    coupling it returns is the assignment probabilities ``R`` of the last
    M-step. ``(B, N_out, N_in, D_out) -> (B, N_out, D_out)``.

    Matrix capsule layers route with :class:`MatrixEMRouting`, which returns
    the means and activations themselves.

    Parameters: ``2 * N_out`` (``beta_u``, ``beta_a``).

    Args:
        in_capsules: ``N_in`` (given by the capsule layer).
        out_capsules: ``N_out`` (likewise).
        out_dim: ``D_out`` (likewise).
        num_iterations: EM iterations (the paper: 3).
        final_lambda: The inverse temperature approached by the schedule
            ``lambda_t = final_lambda * (1 - lambda_decay^(t + 1))``
            (the authors' value: 0.01).
        lambda_decay: 0.95 (the authors'); 0 for a fixed
            ``lambda = final_lambda``.
        eps: Floor of the variances (see :func:`em_routing`).
    """

    def __init__(self,
                 in_capsules: int,
                 out_capsules: int,
                 out_dim: int,
                 num_iterations: int = 3,
                 final_lambda: float = 0.01,
                 lambda_decay: float = 0.95,
                 eps: float = 1e-8) -> None:
        BaseRouting.__init__(self, in_capsules, out_capsules, out_dim)
        self._init_em(out_capsules, num_iterations, final_lambda,
                      lambda_decay, eps)

    def route(self, u_hat: torch.Tensor, activations: torch.Tensor
              ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Vector capsules of length ``a_j`` in ``u_hat``'s dtype, and the
        assignments ``R``."""
        poses, act, assignments = self._em(u_hat, activations)
        length = capsule_length(poses).clamp_min(self.eps)
        v = (poses * (act / length).unsqueeze(-1)).to(u_hat.dtype)
        return v, assignments

    def extra_repr(self) -> str:
        return f'{BaseRouting.extra_repr(self)}, {self._em_repr()}'


@MODELS.register_module()
class MatrixEMRouting(_EMOptions, nn.Module):
    """EM routing (:func:`em_routing`) of matrix capsules: the output
    capsules' poses (the means) and activations.

    ``(B, N_out, N_in, P * P) votes, (B, N_in) activations ->
    (B, N_out, P * P) poses, (B, N_out) activations, (B, N_out, N_in)
    assignments``. A convolutional capsule layer routes each position on
    its own (its batch is images x positions) and shares ``beta_u``,
    ``beta_a`` over positions: one per output capsule type.

    Parameters: ``2 * out_types``.

    Args:
        out_types: Output capsule types (given by the matrix capsule layer).
        num_iterations: EM iterations (the paper: 3).
        final_lambda: See :class:`EMRouting`.
        lambda_decay: See :class:`EMRouting`.
        eps: Floor of the variances (see :func:`em_routing`).
    """

    def __init__(self,
                 out_types: int,
                 num_iterations: int = 3,
                 final_lambda: float = 0.01,
                 lambda_decay: float = 0.95,
                 eps: float = 1e-8) -> None:
        nn.Module.__init__(self)
        self.out_types = check_int('MatrixEMRouting', 'out_types', out_types)
        self._init_em(out_types, num_iterations, final_lambda, lambda_decay,
                      eps)

    def forward(self, votes: torch.Tensor, activations: torch.Tensor
                ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Poses, activations and assignments, in at least float32."""
        if votes.dim() != 4 or votes.shape[1] != self.out_types:
            raise ValueError(
                f'MatrixEMRouting expects votes of shape (B, {self.out_types}'
                f', N_in, P * P), got {tuple(votes.shape)}')
        return self._em(votes, activations)

    def extra_repr(self) -> str:
        return f'out_types={self.out_types}, {self._em_repr()}'
