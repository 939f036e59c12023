import pytest
import torch

from mmcaps.models.losses import ReconstructionLoss


def test_sum_of_squares_mean_over_batch():
    recon = torch.tensor([[[[0.0, 1.0], [0.5, 0.5]]], [[[1.0, 1.0],
                                                        [1.0, 1.0]]]])
    target = torch.zeros_like(recon)
    # Per image: 0 + 1 + 0.25 + 0.25 = 1.5 and 4; mean 2.75.
    loss = ReconstructionLoss(loss_weight=1.0)(recon, target)
    torch.testing.assert_close(loss, torch.tensor(2.75))
    torch.testing.assert_close(
        ReconstructionLoss()(recon, target), torch.tensor(2.75 * 0.0005))


def test_size_mismatch():
    with pytest.raises(ValueError, match='out_shape'):
        ReconstructionLoss()(torch.zeros(2, 784), torch.zeros(2, 1, 32, 32))
