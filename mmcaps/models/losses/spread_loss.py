"""Spread loss of Hinton, Sabour & Frosst (2018), "Matrix capsules with EM
routing"."""
from typing import Optional

import torch
import torch.nn as nn
from mmengine.logging import MessageHub
from mmpretrain.registry import MODELS

from ..utils import labels_to_targets

__all__ = ['SpreadLoss']


@MODELS.register_module()
class SpreadLoss(nn.Module):
    """Spread loss of the class capsules' activations.

    ``L = sum_{i != t} max(0, m - (a_t - a_i))^2`` for the target class
    ``t``, averaged over the batch: every wrong class must stay a margin
    ``m`` below the target. ``(B, K) activations, (B,) labels -> scalar``,
    in at least float32.

    The paper starts with ``m = 0.2`` and increases it linearly to 0.9
    during training, which it says avoids dead capsules in the earlier
    layers; it does not say over how many iterations. With
    ``warmup_iters > 0`` the margin at training iteration ``n`` is
    ``start_margin + (margin - start_margin) * min(1, n / warmup_iters)``,
    ``n`` being the runner's iteration that mmengine's ``RuntimeInfoHook``
    records in the ``MessageHub`` (``'iter'``) before every training
    iteration, which also resumes with a checkpoint. Outside a training
    loop (no ``'iter'`` recorded) the final ``margin`` applies;
    :meth:`current_margin` takes an iteration explicitly.

    Args:
        margin: The (final) margin ``m`` (the paper: 0.9).
        start_margin: The margin at iteration 0 with ``warmup_iters``
            (the paper: 0.2).
        warmup_iters: Iterations over which the margin grows from
            ``start_margin`` to ``margin``; 0 for a fixed ``margin``.
        loss_weight: Multiplier of the loss.
    """

    def __init__(self,
                 margin: float = 0.9,
                 start_margin: float = 0.2,
                 warmup_iters: int = 0,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        if not 0 < margin <= 1:
            raise ValueError(f'SpreadLoss: margin must be in (0, 1], got '
                             f'{margin!r}')
        if not 0 <= start_margin <= margin:
            raise ValueError('SpreadLoss: start_margin must be in [0, '
                             f'margin={margin}], got {start_margin!r}')
        if (not isinstance(warmup_iters, int)
                or isinstance(warmup_iters, bool) or warmup_iters < 0):
            raise ValueError('SpreadLoss: warmup_iters must be a '
                             f'non-negative integer, got {warmup_iters!r}')
        self.margin = margin
        self.start_margin = start_margin
        self.warmup_iters = warmup_iters
        self.loss_weight = loss_weight

    def current_margin(self, iteration: Optional[int] = None) -> float:
        """The margin at training ``iteration`` (default: the runner's
        current iteration, from the ``MessageHub``)."""
        if self.warmup_iters == 0:
            return self.margin
        if iteration is None:
            iteration = MessageHub.get_current_instance().get_info('iter')
            if iteration is None:
                return self.margin
        progress = min(1.0, max(0, iteration) / self.warmup_iters)
        return self.start_margin + (self.margin -
                                    self.start_margin) * progress

    def forward(self, activations: torch.Tensor, target: torch.Tensor,
                margin: Optional[float] = None) -> torch.Tensor:
        """Args:
            activations: Class activations ``(B, K)``.
            target: ``(B,)`` class indices (or ``(B, K)`` one-hot).
            margin: The margin to use instead of :meth:`current_margin`.

        Returns:
            The loss, a scalar.
        """
        if activations.dim() != 2:
            raise ValueError('SpreadLoss expects activations of shape '
                             f'(B, K), got {tuple(activations.shape)}')
        t = labels_to_targets(target, activations.shape[1])
        t = t.to(activations.device)
        if not torch.equal(t.sum(dim=1), torch.ones_like(t[:, 0])):
            raise ValueError('SpreadLoss needs exactly one target class per '
                             'sample (it spreads the other classes below it)')
        m = self.current_margin() if margin is None else margin
        a = activations.to(
            torch.promote_types(activations.dtype, torch.float32))
        a_target = (a * t).sum(dim=1, keepdim=True)
        loss = torch.relu(m - (a_target - a)).pow(2) * (1.0 - t)
        return self.loss_weight * loss.sum(dim=1).mean()

    def extra_repr(self) -> str:
        return (f'margin={self.margin}, start_margin={self.start_margin}, '
                f'warmup_iters={self.warmup_iters}, '
                f'loss_weight={self.loss_weight}')
