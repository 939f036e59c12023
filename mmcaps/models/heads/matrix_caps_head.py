"""Matrix class-capsule head (EM routing, spread loss)."""
from typing import List, Optional, Sequence, Tuple

import torch
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from ..utils import ClassMatrixCaps
from .digitcaps_head import pack_predictions

__all__ = ['MatrixCapsHead']


@MODELS.register_module()
class MatrixCapsHead(BaseModule):
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
        routing: :class:`EMRouting` config.
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
        super().__init__(init_cfg=init_cfg)
        if not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError('MatrixCapsHead: num_classes must be an integer '
                             f'>= 2, got {num_classes!r}')
        self.num_classes = num_classes
        self.capsules = ClassMatrixCaps(in_types, num_classes, pose_size,
                                        coord_add, routing)
        self.loss_module = MODELS.build(loss or dict(type='SpreadLoss'))

    def pre_logits(
        self, feats: Tuple[Tuple[torch.Tensor, torch.Tensor]]
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """The last capsule map: the last backbone/neck output."""
        return feats[-1]

    def forward(
        self, feats: Tuple[Tuple[torch.Tensor, torch.Tensor]]
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Class capsules: poses ``(N, K, P * P)`` and activations
        ``(N, K)``."""
        return self.capsules(self.pre_logits(feats))

    def loss(self, feats: Tuple[Tuple[torch.Tensor, torch.Tensor]],
             data_samples: List[DataSample]) -> dict:
        """Spread loss of the class activations.

        Args:
            feats: Backbone/neck outputs, the last a capsule map.
            data_samples: Samples with one class each in ``gt_label``.

        Returns:
            ``loss_spread``.
        """
        _, activations = self(feats)
        gt_labels = [s.gt_label for s in data_samples]
        if any(label.numel() != 1 for label in gt_labels):
            raise ValueError('MatrixCapsHead takes one class per sample; the '
                             'spread loss is not defined for several')
        targets = torch.cat(gt_labels).to(activations.device)
        return dict(loss_spread=self.loss_module(activations, targets))

    def predict(
        self,
        feats: Tuple[Tuple[torch.Tensor, torch.Tensor]],
        data_samples: Optional[Sequence[Optional[DataSample]]] = None
    ) -> List[DataSample]:
        """Predict the class of the most active capsule.

        Returns:
            Data samples with ``pred_score`` (class activations, ``(K,)``)
            and ``pred_label``.
        """
        _, scores = self(feats)
        scores = scores.detach()
        labels = scores.argmax(dim=1, keepdim=True)
        return pack_predictions(scores, labels, data_samples)
