import pytest
import torch

from mmcaps.models.losses import MarginLoss, labels_to_targets


def test_margin_loss_hand_computed():
    lengths = torch.tensor([[0.95, 0.3, 0.05], [0.5, 0.08, 0.7]])
    labels = torch.tensor([0, 2])
    # Sample 0: class 0 present, 0.95 > 0.9 -> 0; class 1 absent:
    # 0.5 * (0.3 - 0.1)^2 = 0.02; class 2 absent, 0.05 < 0.1 -> 0.
    # Sample 1: class 0 absent: 0.5 * 0.4^2 = 0.08; class 1 -> 0;
    # class 2 present: (0.9 - 0.7)^2 = 0.04.  Mean of 0.02 and 0.12.
    loss = MarginLoss()(lengths, labels)
    torch.testing.assert_close(loss, torch.tensor(0.07))


def test_margin_loss_parameters_and_weight():
    lengths = torch.tensor([[0.5, 0.5]])
    labels = torch.tensor([1])
    # present: (0.8 - 0.5)^2 = 0.09; absent: 0.25 * (0.5 - 0.2)^2 = 0.0225
    loss = MarginLoss(m_plus=0.8, m_minus=0.2, lambda_=0.25,
                      loss_weight=2.0)(lengths, labels)
    torch.testing.assert_close(loss, torch.tensor(2 * (0.09 + 0.0225)))


def test_margin_loss_multi_hot_equals_sum_of_terms():
    lengths = torch.tensor([[0.6, 0.7, 0.2]])
    target = torch.tensor([[1, 1, 0]])
    expected = (0.9 - 0.6)**2 + (0.9 - 0.7)**2 + 0.5 * (0.2 - 0.1)**2
    torch.testing.assert_close(MarginLoss()(lengths, target),
                               torch.tensor(expected))


def test_margin_loss_finite_at_extremes():
    lengths = torch.tensor([[0.0, 1e6, 1.0]], requires_grad=True)
    loss = MarginLoss()(lengths, torch.tensor([0]))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(lengths.grad).all()


def test_label_out_of_range():
    with pytest.raises(ValueError, match=r'label 10 is outside.*\[0, 9\]'):
        MarginLoss()(torch.rand(2, 10), torch.tensor([3, 10]))
    with pytest.raises(ValueError, match='label -1'):
        labels_to_targets(torch.tensor([-1]), 10)


def test_bad_margins():
    with pytest.raises(ValueError, match='m_minus < m_plus'):
        MarginLoss(m_plus=0.1, m_minus=0.9)
