"""Margin loss of Sabour et al. (2017)."""
import torch
import torch.nn as nn
from mmpretrain.registry import MODELS

from ..utils import labels_to_targets

__all__ = ['MarginLoss']


@MODELS.register_module()
class MarginLoss(nn.Module):
    """Margin loss of the class capsules' lengths.

    ``L_k = T_k max(0, m+ - |v_k|)^2 + lambda (1 - T_k) max(0, |v_k| - m-)^2``,
    summed over the classes ``k`` and averaged over the batch.
    ``(B, K) lengths, (B,) or (B, K) targets -> scalar``, in at least
    float32. The gradient is finite for any finite lengths, the loss
    wherever its value fits the dtype: always for the lengths of
    :func:`squash` outputs (at most 1); float32 lengths over ~1.8e19 give
    ``inf``, the true loss being out of float32's range.

    Args:
        m_plus: ``m+``, the length a present class should exceed.
        m_minus: ``m-``, the length an absent class should stay under.
        lambda_: Down-weighting of the absent classes' term.
        loss_weight: Multiplier of the loss.
    """

    def __init__(self,
                 m_plus: float = 0.9,
                 m_minus: float = 0.1,
                 lambda_: float = 0.5,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        if not 0 <= m_minus < m_plus <= 1:
            raise ValueError('MarginLoss needs 0 <= m_minus < m_plus <= 1, '
                             f'got m_minus={m_minus}, m_plus={m_plus}')
        self.m_plus = m_plus
        self.m_minus = m_minus
        self.lambda_ = lambda_
        self.loss_weight = loss_weight

    def forward(self, lengths: torch.Tensor,
                target: torch.Tensor) -> torch.Tensor:
        """Args:
            lengths: Capsule lengths ``(B, K)``.
            target: ``(B,)`` class indices or ``(B, K)`` multi-hot targets.

        Returns:
            The loss, a scalar.
        """
        t = labels_to_targets(target, lengths.shape[1])
        # fp16 squares overflow from 256; float64 lengths keep their
        # precision.
        lengths = lengths.to(
            torch.promote_types(lengths.dtype, torch.float32))
        present = torch.relu(self.m_plus - lengths).pow(2)
        absent = torch.relu(lengths - self.m_minus).pow(2)
        loss = t * present + self.lambda_ * (1.0 - t) * absent
        return self.loss_weight * loss.sum(dim=1).mean()

    def extra_repr(self) -> str:
        return (f'm_plus={self.m_plus}, m_minus={self.m_minus}, '
                f'lambda_={self.lambda_}, loss_weight={self.loss_weight}')
