import pytest
import torch
from mmengine.logging import MessageHub

import mmcaps  # noqa: F401
from mmcaps.models.losses import SpreadLoss

ACTS = torch.tensor([[0.9, 0.5, 0.2], [0.3, 0.6, 0.55]])
LABELS = torch.tensor([0, 1])


def test_values_by_hand():
    # sum_{i != t} max(0, m - (a_t - a_i))^2, averaged over the batch.
    # m = 0.9: sample 0: (0.9 - 0.4)^2 + (0.9 - 0.7)^2 = 0.25 + 0.04;
    # sample 1: (0.9 - 0.3)^2 + (0.9 - 0.05)^2 = 0.36 + 0.7225.
    loss = SpreadLoss(margin=0.9)
    torch.testing.assert_close(loss(ACTS, LABELS),
                               torch.tensor((0.29 + 1.0825) / 2))
    # m = 0.2: only sample 1's class 2 is within the margin: 0.15^2.
    torch.testing.assert_close(loss(ACTS, LABELS, margin=0.2),
                               torch.tensor(0.0225 / 2))
    # One-hot targets are the same labels; loss_weight scales.
    torch.testing.assert_close(
        SpreadLoss(loss_weight=2.0)(ACTS, torch.eye(3)[LABELS]),
        torch.tensor(0.29 + 1.0825))


def test_gradient_pushes_target_up_and_others_down():
    acts = ACTS.clone().requires_grad_()
    SpreadLoss()(acts, LABELS).backward()
    assert acts.grad[0, 0] < 0 and acts.grad[1, 1] < 0
    assert (acts.grad[0, 1:] > 0).all()
    assert acts.grad[1, 0] > 0 and acts.grad[1, 2] > 0


def test_margin_schedule():
    loss = SpreadLoss(margin=0.9, start_margin=0.2, warmup_iters=100)
    assert loss.current_margin(0) == pytest.approx(0.2)
    assert loss.current_margin(50) == pytest.approx(0.55)
    assert loss.current_margin(100) == pytest.approx(0.9)
    assert loss.current_margin(1000) == pytest.approx(0.9)
    assert SpreadLoss(margin=0.8).current_margin(0) == 0.8


def test_margin_follows_the_runner_iteration():
    loss = SpreadLoss(margin=0.9, start_margin=0.2, warmup_iters=100)
    # The hub the Runner's RuntimeInfoHook writes 'iter' to; restored after.
    hub = MessageHub.get_current_instance()
    previous = hub.get_info('iter')
    try:
        hub.pop_info('iter')
        # Outside a training loop: the final margin.
        assert loss.current_margin() == pytest.approx(0.9)
        hub.update_info('iter', 50)
        assert loss.current_margin() == pytest.approx(0.55)
        expected = SpreadLoss(margin=0.55)(ACTS, LABELS)
        torch.testing.assert_close(loss(ACTS, LABELS), expected)
    finally:
        hub.pop_info('iter')
        if previous is not None:
            hub.update_info('iter', previous)


@pytest.mark.parametrize('kwargs,message', [
    (dict(margin=0), r'margin must be in \(0, 1\]'),
    (dict(margin=1.5), r'margin must be in \(0, 1\]'),
    (dict(start_margin=0.95), r'start_margin must be in \[0, margin=0.9\]'),
    (dict(warmup_iters=-1), 'warmup_iters must be a non-negative integer'),
    (dict(warmup_iters=1.5), 'warmup_iters must be a non-negative integer'),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SpreadLoss(**kwargs)


def test_bad_targets():
    with pytest.raises(ValueError, match='exactly one target class'):
        SpreadLoss()(ACTS, torch.tensor([[1, 1, 0], [0, 1, 0]]))
    with pytest.raises(ValueError, match='outside the class range'):
        SpreadLoss()(ACTS, torch.tensor([0, 3]))
    with pytest.raises(ValueError, match=r'activations of shape \(B, K\)'):
        SpreadLoss()(ACTS[0], LABELS)
