"""Class-capsule classification head."""
from typing import List, Optional, Sequence, Tuple

import torch
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from ..losses import labels_to_targets
from ..utils import CapsuleLayer, capsule_length

__all__ = ['DigitCapsHead', 'pack_predictions']


def pack_predictions(
        scores: torch.Tensor, labels: torch.Tensor,
        data_samples: Optional[Sequence[Optional[DataSample]]]
) -> List[DataSample]:
    """Set ``pred_score`` (``scores[i]``) and ``pred_label``
    (``labels[i]``) on each data sample, made where ``data_samples`` is
    None."""
    if data_samples is None:
        data_samples = [None] * scores.shape[0]
    out = []
    for sample, score, label in zip(data_samples, scores, labels):
        sample = DataSample() if sample is None else sample
        out.append(sample.set_pred_score(score).set_pred_label(label))
    return out


@MODELS.register_module()
class DigitCapsHead(BaseModule):
    """DigitCaps: one capsule per class, scored by its length.

    ``((B, N_in, D_in),) -> (B, K, D_out)`` class capsules; the score of
    class ``k`` is ``|v_k|``, reported as ``pred_score`` as it is (capsule
    lengths are independent probabilities, no softmax). Trained with the
    margin loss and, with a decoder, the reconstruction loss of the image
    decoded from the true class's capsule alone.

    Several digits per image (MultiMNIST): data samples whose ``gt_label``
    holds ``P`` class indices are trained with the margin loss on the
    multi-hot target, and, when they carry ``digit_images`` (``(P, C, H,
    W)`` in ``[0, 1]``, each digit alone), with one decoder pass per digit,
    masking all capsules but that digit's and reconstructing that digit
    alone; the ``P`` reconstruction losses are summed (without
    ``digit_images``, one pass decodes the whole image from the ``P``
    capsules). ``num_predictions=2`` predicts the two longest capsules.

    Parameters: the capsule layer's ``N_in * K * D_in * D_out`` (1,474,560
    for the paper's MNIST model, 4,096,000 for its MultiMNIST one with 3200
    primary capsules) plus the decoder's.

    Args:
        num_classes: ``K``.
        in_capsules: ``N_in`` (1152 for 28x28 MNIST).
        in_dim: ``D_in``.
        out_dim: ``D_out``.
        routing: Routing config, e.g. ``dict(type='DynamicRouting',
            num_iterations=3)``.
        loss: Classification loss config (``MarginLoss``).
        decoder: Reconstruction decoder config (``CapsuleDecoder``), or
            ``None`` for no reconstruction.
        reconstruction_loss: Reconstruction loss config.
        num_predictions: How many classes ``predict`` puts in
            ``pred_label``: the longest capsules, longest first (1 for
            MNIST, 2 for MultiMNIST).
        init_cfg: MMEngine initialisation config.
    """

    def __init__(self,
                 num_classes: int,
                 in_capsules: int,
                 in_dim: int = 8,
                 out_dim: int = 16,
                 routing: Optional[dict] = None,
                 loss: Optional[dict] = None,
                 decoder: Optional[dict] = None,
                 reconstruction_loss: Optional[dict] = None,
                 num_predictions: int = 1,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError('DigitCapsHead: num_classes must be an integer '
                             f'>= 2, got {num_classes!r}')
        self.num_classes = num_classes
        if (not isinstance(num_predictions, int)
                or not 1 <= num_predictions <= num_classes):
            raise ValueError('DigitCapsHead: num_predictions must be an '
                             f'integer in [1, {num_classes}], got '
                             f'{num_predictions!r}')
        self.num_predictions = num_predictions
        self.capsules = CapsuleLayer(in_capsules, in_dim, num_classes,
                                     out_dim, routing)
        self.loss_module = MODELS.build(loss or dict(type='MarginLoss'))
        self.decoder = None
        if decoder is not None:
            decoder = dict(decoder)
            decoder.setdefault('num_capsules', num_classes)
            decoder.setdefault('capsule_dim', out_dim)
            self.decoder = MODELS.build(decoder)
            if (self.decoder.num_capsules != num_classes
                    or self.decoder.capsule_dim != out_dim):
                raise ValueError(
                    'DigitCapsHead: the decoder takes '
                    f'{self.decoder.num_capsules} capsules of dimension '
                    f'{self.decoder.capsule_dim}, but the head has '
                    f'{num_classes} of dimension {out_dim}')
            self.reconstruction_loss = MODELS.build(
                reconstruction_loss or dict(type='ReconstructionLoss'))

    @property
    def with_reconstruction(self) -> bool:
        """Whether the head trains a reconstruction decoder."""
        return self.decoder is not None

    def pre_logits(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """The primary capsules: the last backbone/neck output."""
        return feats[-1]

    def forward(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """Class capsules ``(B, K, D_out)``."""
        return self.capsules(self.pre_logits(feats))

    def reconstruct(self, capsules: torch.Tensor,
                    labels: torch.Tensor) -> torch.Tensor:
        """Decode the capsule of ``labels`` (``(B,)``) with the others
        masked: ``(B, K, D_out) -> (B, *out_shape)``."""
        if self.decoder is None:
            raise RuntimeError('DigitCapsHead has no decoder; set `decoder` '
                               'in the head config to reconstruct')
        return self.decoder(capsules,
                            labels_to_targets(labels, self.num_classes))

    def loss(self,
             feats: Tuple[torch.Tensor],
             data_samples: List[DataSample],
             images: Optional[torch.Tensor] = None) -> dict:
        """Margin loss, and reconstruction loss when there is a decoder.

        Args:
            feats: Backbone/neck outputs, the last being ``(B, N_in, D_in)``.
            data_samples: Samples with ``gt_label`` (one class, or ``P``
                classes each), and, for per-digit reconstruction,
                ``digit_images`` ``(P, C, H, W)``.
            images: ``(B, C, H, W)`` reconstruction targets in ``[0, 1]``
                (the raw images), needed with a decoder unless the samples
                carry ``digit_images``.

        Returns:
            ``loss_margin`` and, with a decoder, ``loss_recon``.
        """
        capsules = self(feats)
        gt_labels = [s.gt_label for s in data_samples]
        if all(label.numel() == 1 for label in gt_labels):
            targets = torch.cat(gt_labels)
        else:
            # Multi-hot (B, K); the margin loss takes it as it is.
            targets = torch.stack([
                labels_to_targets(label, self.num_classes).amax(dim=0)
                for label in gt_labels
            ])
        targets = targets.to(capsules.device)
        losses = dict(loss_margin=self.loss_module(
            capsule_length(capsules), targets))
        if self.decoder is not None and 'digit_images' in data_samples[0]:
            digit_labels = torch.stack(gt_labels).to(capsules.device)
            digits = torch.stack([s.digit_images for s in data_samples]).to(
                capsules.device)
            losses['loss_recon'] = sum(
                self.reconstruction_loss(
                    self.reconstruct(capsules, digit_labels[:, p]),
                    digits[:, p]) for p in range(digit_labels.shape[1]))
        elif self.decoder is not None:
            if images is None:
                raise ValueError(
                    'DigitCapsHead has a decoder but got no images to '
                    'reconstruct; use CapsNetClassifier, which passes them')
            losses['loss_recon'] = self.reconstruction_loss(
                self.reconstruct(capsules, targets), images)
        return losses

    def predict(
        self,
        feats: Tuple[torch.Tensor],
        data_samples: Optional[Sequence[Optional[DataSample]]] = None
    ) -> List[DataSample]:
        """Predict the classes of the ``num_predictions`` longest capsules.

        Returns:
            Data samples with ``pred_score`` (capsule lengths, ``(K,)``) and
            ``pred_label`` (``(num_predictions,)``, longest first).
        """
        scores = capsule_length(self(feats)).detach()
        labels = scores.topk(self.num_predictions, dim=1).indices
        return pack_predictions(scores, labels, data_samples)
