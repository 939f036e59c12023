"""DigitCaps: the class-capsule head of Sabour et al. (2017)."""
from typing import List, Optional, Tuple

import torch
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from ..layers import CapsuleLayer
from ..utils import capsule_length, labels_to_targets
from .base_caps_head import BaseCapsHead

__all__ = ['DigitCapsHead']


@MODELS.register_module()
class DigitCapsHead(BaseCapsHead):
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
    primary capsules), or with ``weight_sharing`` ``T * K * D_in * D_out``
    (4,096,000 for 1,000 classes from 32 types of 8-D capsules, whatever
    the grid), plus the decoder's.

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
        init_std: Standard deviation of the capsule layer's ``W`` (see
            :class:`CapsuleLayer`: 0.1, the official code's, saturates the
            class capsules of 3,200 and more primary capsules; use 0.01
            there).
        weight_sharing: ``None`` (one ``W`` per primary capsule, the
            paper's) or ``dict(num_types=T, grid=(H, W), coord_add=False)``:
            one ``W`` per capsule type and class, shared by the grid's
            positions, optionally with coordinate addition (see
            :class:`CapsuleLayer`).
        votes: ``'full'`` (form the votes, any routing), ``'lean'``
            (dynamic routing without forming them: memory for 1,000
            classes) or ``'auto'`` (lean for dynamic routing with shared
            weights); see :class:`CapsuleLayer`.
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
                 init_std: float = 0.1,
                 weight_sharing: Optional[dict] = None,
                 votes: str = 'auto',
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(num_classes, num_predictions, init_cfg=init_cfg)
        self.capsules = CapsuleLayer(in_capsules, in_dim, num_classes,
                                     out_dim, routing, init_std,
                                     weight_sharing, votes)
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

    def forward(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """Class capsules ``(B, K, D_out)`` from the primary capsules
        ``(B, N_in, D_in)``, the last of ``feats``."""
        return self.capsules(self.pre_logits(feats))

    def class_scores(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """Capsule lengths ``(B, K)``."""
        return capsule_length(self(feats))

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
        # (B,) classes, or (B, K) multi-hot, which the margin loss takes.
        targets = self.targets(data_samples, capsules.device)
        losses = dict(loss_margin=self.loss_module(
            capsule_length(capsules), targets))
        if self.decoder is not None and 'digit_images' in data_samples[0]:
            digit_labels = torch.stack(
                [s.gt_label for s in data_samples]).to(capsules.device)
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
