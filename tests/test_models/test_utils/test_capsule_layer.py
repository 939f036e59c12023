import pytest
import torch

from mmcaps.models.utils import BaseRouting, CapsuleLayer, DynamicRouting


def test_predictions_match_per_pair_matmul():
    torch.manual_seed(0)
    layer = CapsuleLayer(5, 3, 4, 2, dict(type='DynamicRouting'))
    u = torch.randn(2, 5, 3)
    u_hat = layer.predictions(u)
    assert u_hat.shape == (2, 4, 5, 2)
    w = layer.weight.view(5, 3, 4, 2)
    for b in range(2):
        for i in range(5):
            for j in range(4):
                # u_hat_j|i = W_ij u_i with W_ij of shape (D_in, D_out).
                torch.testing.assert_close(u_hat[b, j, i],
                                           u[b, i] @ w[i, :, j])


def test_forward_is_routing_of_predictions():
    torch.manual_seed(1)
    layer = CapsuleLayer(6, 8, 3, 16,
                         dict(type='DynamicRouting', num_iterations=2))
    u = torch.randn(4, 6, 8)
    v, c = layer(u, return_coupling=True)
    v_ref = DynamicRouting(2)(layer.predictions(u))
    torch.testing.assert_close(v, v_ref)
    assert c.shape == (4, 3, 6)


def test_parameter_count_paper_digitcaps():
    layer = CapsuleLayer(1152, 8, 10, 16)
    assert sum(p.numel() for p in layer.parameters()) == 1152 * 10 * 8 * 16


def test_shape_error_names_expected():
    layer = CapsuleLayer(1152, 8, 10, 16)
    with pytest.raises(ValueError, match=r'\(B, 1152, 8\).*\(2, 800, 8\)'):
        layer(torch.zeros(2, 800, 8))


def test_bad_sizes():
    with pytest.raises(ValueError, match='out_dim'):
        CapsuleLayer(10, 8, 10, 0)


def test_weight_init_truncated_normal():
    torch.manual_seed(0)
    w = CapsuleLayer(1152, 8, 10, 16).weight
    # The official code's truncated normal with stddev 0.1 (cut at 2 std,
    # which leaves a standard deviation of about 0.088).
    assert w.abs().max() <= 0.2
    assert 0.08 < w.std() < 0.095 and abs(w.mean()) < 1e-3


class _RecordingRouting(BaseRouting):
    """Averages the votes weighted by the input activations, and records
    what the capsule layer gave it."""

    uses_activations = True

    def __init__(self, in_capsules: int, out_capsules: int) -> None:
        super().__init__()
        self.shape = (in_capsules, out_capsules)
        self.activations = None

    def forward(self, u_hat, return_coupling=False, activations=None):
        self.activations = activations
        return (u_hat * activations[:, None, :, None]).mean(dim=2)

    def multiply_adds(self, u_hat_shape):
        return 0


def test_routing_gets_layer_shape_and_activations():
    # Not registered: build_routing takes a routing class as `type`.
    layer = CapsuleLayer(5, 3, 4, 2, dict(type=_RecordingRouting))
    assert layer.routing.shape == (5, 4)
    u = torch.randn(2, 5, 3)
    v = layer(u)
    lengths = u.norm(dim=-1)
    torch.testing.assert_close(layer.routing.activations, lengths)
    torch.testing.assert_close(
        v, (layer.predictions(u) * lengths[:, None, :, None]).mean(dim=2))


def test_routing_config_overrides_layer_shape():
    layer = CapsuleLayer(5, 3, 4, 2,
                         dict(type=_RecordingRouting, in_capsules=7))
    assert layer.routing.shape == (7, 4)
