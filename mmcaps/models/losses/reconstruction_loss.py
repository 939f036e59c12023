"""Reconstruction loss of Sabour et al. (2017)."""
import torch
import torch.nn as nn
from mmpretrain.registry import MODELS

__all__ = ['ReconstructionLoss']


@MODELS.register_module()
class ReconstructionLoss(nn.Module):
    """Sum of squared pixel errors per image, averaged over the batch.

    ``(B, ...) reconstructions, (B, ...) targets -> scalar``. The paper
    scales it by 0.0005 so that it does not dominate the margin loss.

    Args:
        loss_weight: Multiplier of the loss.
    """

    def __init__(self, loss_weight: float = 0.0005) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, recon: torch.Tensor,
                target: torch.Tensor) -> torch.Tensor:
        if recon.shape[0] != target.shape[0] or (
                recon[0].numel() != target[0].numel()):
            raise ValueError(f'reconstruction {tuple(recon.shape)} and '
                             f'target {tuple(target.shape)} differ in size; '
                             'set the decoder out_shape to the input image '
                             'shape')
        err = recon.float().flatten(1) - target.float().flatten(1)
        return self.loss_weight * err.pow(2).sum(dim=1).mean()

    def extra_repr(self) -> str:
        return f'loss_weight={self.loss_weight}'
