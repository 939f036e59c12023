import re

import pytest
import torch

from mmcaps.models.utils import labels_to_targets


def test_class_indices_become_one_hot():
    targets = labels_to_targets(torch.tensor([2, 0, 3]), 4)
    assert targets.dtype == torch.float32
    assert targets.tolist() == [[0, 0, 1, 0], [1, 0, 0, 0], [0, 0, 0, 1]]
    # Any integer dtype.
    assert torch.equal(labels_to_targets(torch.tensor([1], dtype=torch.uint8),
                                         2), torch.tensor([[0., 1.]]))


def test_multi_hot_targets_pass_through_as_float():
    multi = torch.tensor([[1, 0, 1], [0, 0, 1]])
    targets = labels_to_targets(multi, 3)
    assert targets.dtype == torch.float32
    assert targets.tolist() == [[1, 0, 1], [0, 0, 1]]
    with pytest.raises(ValueError, match='^' + re.escape(
            'targets have 3 classes, expected num_classes=4')):
        labels_to_targets(multi, 4)


def test_empty_batch():
    assert labels_to_targets(torch.zeros(0, dtype=torch.long),
                             5).shape == (0, 5)


@pytest.mark.parametrize('labels,bad', [([3, 10], 10), ([-1], -1),
                                        ([0, 12, -2], 12)])
def test_out_of_range_labels(labels, bad):
    with pytest.raises(ValueError, match='^' + re.escape(
            f'label {bad} is outside the class range [0, 9] '
            "(num_classes=10); check the dataset against the head's "
            'num_classes')):
        labels_to_targets(torch.tensor(labels), 10)


def test_bad_label_shape():
    with pytest.raises(ValueError, match='^' + re.escape(
            'labels must be (B,) class indices or (B, K) targets, got shape '
            '(2, 1, 3)')):
        labels_to_targets(torch.zeros(2, 1, 3, dtype=torch.long), 3)
