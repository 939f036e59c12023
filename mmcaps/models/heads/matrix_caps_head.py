"""Matrix class-capsule head (EM routing, spread loss)."""
from typing import List, Optional, Tuple

import torch
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from ..layers import ClassMatrixCaps
from .base_caps_head import BaseCapsHead

__all__ = ['MatrixCapsHead']

CapsuleMap = Tuple[torch.Tensor, torch.Tensor]


@MODELS.register_module()
class MatrixCapsHead(BaseCapsHead):
    """Class capsules of matrix capsules: one per class, scored by its
    activation.

    ``((poses (N, T, P * P, H, W), activations (N, T, H, W)),) ->
    (poses (N, K, P * P), activations (N, K))`` through
    :class:`ClassMatrixCaps` (transformation matrices shared over positions,
    coordinate addition, EM routing). The score of class ``k`` is its
    activation, reported as ``pred_score`` as it is (independent logistic
    units, no softmax); trained with the spread loss.

    Parameters: ``T * K * P^2 + 2 * K`` (2,580 for ``T = 16`` types, 10
    classes and 4x4 poses).

    Args:
        num_classes: ``K``.
        in_types: ``T`` (the backbone's last capsule types, the paper's
            ``D``).
        pose_size: ``P``.
        coord_add: Coordinate addition (the paper: on).
        routing: :class:`MatrixEMRouting` options.
        loss: Classification loss config (``SpreadLoss``).
        init_cfg: MMEngine initialisation config.
    """

    def __init__(self,
                 num_classes: int,
                 in_types: int,
                 pose_size: int = 4,
                 coord_add: bool = True,
                 routing: Optional[dict] = None,
                 loss: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(num_classes, init_cfg=init_cfg)
        self.capsules = ClassMatrixCaps(in_types, num_classes, pose_size,
                                        coord_add, routing)
        self.loss_module = MODELS.build(loss or dict(type='SpreadLoss'))

    def forward(self, feats: Tuple[CapsuleMap]) -> CapsuleMap:
        """Class capsules: poses ``(N, K, P * P)`` and activations
        ``(N, K)``, from the last capsule map of ``feats``."""
        return self.capsules(self.pre_logits(feats))

    def class_scores(self, feats: Tuple[CapsuleMap]) -> torch.Tensor:
        """Class activations ``(N, K)``."""
        return self(feats)[1]

    def loss(self,
             feats: Tuple[CapsuleMap],
             data_samples: List[DataSample],
             images: Optional[torch.Tensor] = None) -> dict:
        """Spread loss of the class activations.

        Args:
            feats: Backbone/neck outputs, the last a capsule map.
            data_samples: Samples with one class each in ``gt_label``.
            images: Unused (no reconstruction).

        Returns:
            ``loss_spread``.
        """
        activations = self.class_scores(feats)
        targets = self.targets(data_samples, activations.device)
        if targets.dim() != 1:
            raise ValueError('MatrixCapsHead takes one class per sample; the '
                             'spread loss is not defined for several')
        return dict(loss_spread=self.loss_module(activations, targets))
