"""Class labels as capsule targets."""
import torch
import torch.nn as nn

__all__ = ['labels_to_targets']


def labels_to_targets(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Turn class indices ``(B,)`` into one-hot targets ``(B, K)``; pass
    ``(B, K)`` multi-hot targets through. Out-of-range labels raise.

    Args:
        labels: ``(B,)`` integer labels or ``(B, K)`` targets in {0, 1}.
        num_classes: ``K``.

    Returns:
        Float targets ``(B, K)``.
    """
    if labels.dim() == 2:
        if labels.shape[1] != num_classes:
            raise ValueError(f'targets have {labels.shape[1]} classes, '
                             f'expected num_classes={num_classes}')
        return labels.float()
    if labels.dim() != 1:
        raise ValueError('labels must be (B,) class indices or (B, K) '
                         f'targets, got shape {tuple(labels.shape)}')
    if labels.numel() and (labels.min() < 0 or labels.max() >= num_classes):
        bad = labels[(labels < 0) | (labels >= num_classes)][0].item()
        raise ValueError(f'label {bad} is outside the class range '
                         f'[0, {num_classes - 1}] '
                         f'(num_classes={num_classes}); '
                         'check the dataset against the head\'s num_classes')
    return nn.functional.one_hot(labels.long(), num_classes).float()
