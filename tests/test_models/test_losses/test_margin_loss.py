import pytest
import torch

from mmcaps.models.losses import MarginLoss
from mmcaps.models.utils import capsule_length, squash


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
        MarginLoss()(torch.rand(1, 10), torch.tensor([-1]))


def test_bad_margins():
    with pytest.raises(ValueError, match='m_minus < m_plus'):
        MarginLoss(m_plus=0.1, m_minus=0.9)


def test_margin_loss_huge_and_zero_lengths():
    # B = 2: gradients carry the 1 / B of the batch mean.
    lengths = torch.tensor([[0.0, 1e18], [1e30, 0.0]], requires_grad=True)
    loss = MarginLoss()(lengths, torch.tensor([0, 1]))
    loss.backward()
    # The 1e30 absent class: 0.5 * (1e30 - 0.1)^2 is out of float32's
    # range, so the loss is inf; the gradient, 0.5 * 2 * 1e30 / 2, is not.
    assert loss == float('inf')
    torch.testing.assert_close(
        lengths.grad, torch.tensor([[-0.9, 0.5 * (1e18 - 0.1)],
                                    [0.5 * (1e30 - 0.1), -0.9]]))
    # Sample 0 alone is in range: 0.9^2 + 0.5 * (1e18 - 0.1)^2.
    loss = MarginLoss()(lengths[:1], torch.tensor([0]))
    torch.testing.assert_close(loss, torch.tensor(0.81 + 0.5 * 1e36))


def test_margin_loss_keeps_float64_and_upcasts_half():
    # 0.9 - 1e-9 is 0.9 in float32: the 1e-18 loss survives in float64 only.
    lengths = torch.tensor([[0.9 - 1e-9, 0.1]], dtype=torch.float64)
    loss = MarginLoss()(lengths, torch.tensor([0]))
    assert loss.dtype == torch.float64
    torch.testing.assert_close(loss, torch.tensor(1e-18, dtype=torch.float64))
    # fp16 lengths: squares past fp16's range, in float32.
    loss = MarginLoss()(torch.tensor([[300.0]], dtype=torch.float16),
                        torch.tensor([[0]]))
    assert loss.dtype == torch.float32
    torch.testing.assert_close(loss, torch.tensor(0.5 * 299.9**2))


@pytest.mark.parametrize('scale', [0.0, 1e30, 3e38])
def test_margin_loss_of_squashed_extreme_capsules(scale):
    # The head's path, squash -> capsule_length -> MarginLoss, on capsules
    # of length 0 or past float32's squares: lengths 0 or 1.
    s = torch.full((1, 2, 4), scale, requires_grad=True)
    loss = MarginLoss()(capsule_length(squash(s)), torch.tensor([0]))
    loss.backward()
    # Present class at length l: (0.9 - l)^2; absent: 0.5 (l - 0.1)^2.
    expected = 0.81 if scale == 0 else 0.5 * 0.9**2
    torch.testing.assert_close(loss, torch.tensor(expected))
    assert torch.isfinite(s.grad).all()
