import torch

from mmcaps.models.necks import PrimaryCapsNeck


def test_neck_uses_last_feature_map():
    neck = PrimaryCapsNeck(in_channels=8, num_types=2, capsule_dim=4)
    a, b = torch.rand(1, 3, 9, 9), torch.rand(2, 8, 5, 5)
    out = neck((a, b))
    assert len(out) == 1 and out[0].shape == (2, 2 * 5 * 5, 4)
    torch.testing.assert_close(out[0], neck.primary_caps(b))
