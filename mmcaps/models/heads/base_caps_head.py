"""What every class-capsule head has: targets from data samples, scores
without softmax, predictions."""
from abc import ABCMeta, abstractmethod
from typing import List, Optional, Sequence, Tuple

import torch
from mmengine.model import BaseModule
from mmpretrain.structures import DataSample

from mmcaps.utils.validation import check_int

from ..utils import labels_to_targets

__all__ = ['BaseCapsHead']


class BaseCapsHead(BaseModule, metaclass=ABCMeta):
    """Base of classification heads with one output capsule per class.

    A class's score is its capsule's length or activation, an independent
    probability per class, reported as ``pred_score`` as it is (no
    softmax); ``pred_label`` holds the ``num_predictions`` best classes,
    best first. A subclass computes the class capsules (:meth:`forward`),
    their scores (:meth:`class_scores`) and its losses (:meth:`loss`).

    Args:
        num_classes: ``K``.
        num_predictions: How many classes :meth:`predict` puts in
            ``pred_label`` (1 for MNIST, 2 for MultiMNIST).
        init_cfg: MMEngine initialisation config.
    """

    def __init__(self,
                 num_classes: int,
                 num_predictions: int = 1,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        owner = type(self).__name__
        self.num_classes = check_int(owner, 'num_classes', num_classes,
                                     minimum=2)
        self.num_predictions = check_int(owner, 'num_predictions',
                                         num_predictions, maximum=num_classes)

    @property
    def with_reconstruction(self) -> bool:
        """Whether :meth:`loss` needs the raw input images (to reconstruct
        them); a classifier passes them only then."""
        return False

    def pre_logits(self, feats: Tuple) -> object:
        """The head's input: the last backbone/neck output."""
        return feats[-1]

    @abstractmethod
    def class_scores(self, feats: Tuple) -> torch.Tensor:
        """``(B, K)`` class scores in ``[0, 1]``."""

    @abstractmethod
    def loss(self,
             feats: Tuple,
             data_samples: List[DataSample],
             images: Optional[torch.Tensor] = None) -> dict:
        """The losses; ``images`` are the raw inputs in ``[0, 1]``, given
        when :attr:`with_reconstruction`."""

    def targets(self, data_samples: Sequence[DataSample],
                device: torch.device) -> torch.Tensor:
        """``gt_label`` of the samples: ``(B,)`` class indices when each
        sample has one class, else ``(B, K)`` multi-hot targets."""
        gt_labels = [s.gt_label for s in data_samples]
        if all(label.numel() == 1 for label in gt_labels):
            targets = torch.cat(gt_labels)
        else:
            targets = torch.stack([
                labels_to_targets(label, self.num_classes).amax(dim=0)
                for label in gt_labels
            ])
        return targets.to(device)

    def predict(
        self,
        feats: Tuple,
        data_samples: Optional[Sequence[Optional[DataSample]]] = None
    ) -> List[DataSample]:
        """Predict the ``num_predictions`` best classes.

        Returns:
            Data samples (made where ``data_samples`` is None) with
            ``pred_score`` (the ``(K,)`` class scores) and ``pred_label``
            (``(num_predictions,)``, best first).

        Raises:
            ValueError: A sample's scores are not finite (a NaN or infinite
                input pixel): no prediction is made from bad data.
        """
        scores = self.class_scores(feats).detach()
        bad = (~torch.isfinite(scores).all(dim=1)).nonzero().flatten()
        if bad.numel():
            raise ValueError(
                f'{type(self).__name__}: the class scores of sample(s) '
                f'{bad.tolist()} of the batch are not finite; check the '
                'input images for NaN or infinite pixels')
        labels = scores.topk(self.num_predictions, dim=1).indices
        if data_samples is None:
            data_samples = [None] * scores.shape[0]
        return [(DataSample() if sample is None else sample).set_pred_score(
            score).set_pred_label(label)
                for sample, score, label in zip(data_samples, scores, labels)]
