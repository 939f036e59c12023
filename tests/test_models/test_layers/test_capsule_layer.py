import re

import pytest
import torch

import mmcaps  # noqa: F401
from mmcaps.models.layers import CapsuleLayer
from mmcaps.models.routings import DynamicRouting
from mmcaps.models.utils import capsule_length


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
    v_ref, c_ref = DynamicRouting(6, 3, 16, num_iterations=2)(
        layer.predictions(u), capsule_length(u), return_coupling=True)
    torch.testing.assert_close(v, v_ref)
    torch.testing.assert_close(c, c_ref)
    assert c.shape == (4, 3, 6)
    torch.testing.assert_close(layer(u), v)


def test_parameter_count_paper_digitcaps():
    layer = CapsuleLayer(1152, 8, 10, 16)
    assert sum(p.numel() for p in layer.parameters()) == 1152 * 10 * 8 * 16


def test_shape_error_names_expected():
    layer = CapsuleLayer(1152, 8, 10, 16)
    with pytest.raises(ValueError, match=r'\(B, 1152, 8\).*\(2, 800, 8\)'):
        layer(torch.zeros(2, 800, 8))


@pytest.mark.parametrize('args,name,value', [
    ((0, 8, 10, 16), 'in_capsules', 0),
    ((10, True, 10, 16), 'in_dim', True),
    ((10, 8, 2.0, 16), 'out_capsules', 2.0),
    ((10, 8, 10, 0), 'out_dim', 0),
])
def test_bad_sizes(args, name, value):
    with pytest.raises(ValueError, match='^' + re.escape(
            f'CapsuleLayer: {name} must be a positive integer, got '
            f'{value!r}') + '$'):
        CapsuleLayer(*args)


@pytest.mark.parametrize('std', [0, -0.1, float('nan'), True])
def test_bad_init_std(std):
    with pytest.raises(ValueError, match='^' + re.escape(
            f'CapsuleLayer: init_std must be a positive number, got '
            f'{std!r}') + '$'):
        CapsuleLayer(10, 8, 10, 16, init_std=std)


def test_weight_init_truncated_normal():
    torch.manual_seed(0)
    w = CapsuleLayer(1152, 8, 10, 16).weight
    # The official code's truncated normal with stddev 0.1 (cut at 2 std,
    # which leaves a standard deviation of about 0.088).
    assert w.abs().max() <= 0.2
    assert 0.08 < w.std() < 0.095 and abs(w.mean()) < 1e-3


@pytest.mark.parametrize('std', [0.01, 0.5])
def test_init_std_scales_the_truncated_normal(std):
    # A normal of std `std` cut at 2 std: standard deviation
    # std * sqrt(1 - 4 phi(2) / (2 Phi(2) - 1)) = 0.8796 std.
    torch.manual_seed(1)
    layer = CapsuleLayer(1152, 8, 10, 16, init_std=std)
    assert layer.init_std == std
    w = layer.weight
    assert w.abs().max() <= 2 * std
    assert w.abs().max() > 1.99 * std
    assert abs(w.std().item() / (0.8796 * std) - 1) < 0.01
    # reset_parameters draws again from the same distribution.
    before = w.detach().clone()
    layer.reset_parameters()
    assert not torch.equal(before, layer.weight)
    assert layer.weight.abs().max() <= 2 * std


def test_routing_is_built_for_the_layer():
    layer = CapsuleLayer(5, 3, 4, 2, dict(type='EMRouting'))
    assert (layer.routing.in_capsules, layer.routing.out_capsules,
            layer.routing.out_dim) == (5, 4, 2)
    # The default is three iterations of dynamic routing.
    default = CapsuleLayer(5, 3, 4, 2).routing
    assert type(default) is DynamicRouting and default.num_iterations == 3
    assert (default.in_capsules, default.out_capsules,
            default.out_dim) == (5, 4, 2)


def test_routing_config_cannot_override_the_layer():
    with pytest.raises(ValueError, match='^' + re.escape(
            'DynamicRouting: in_capsules are set by the capsule layer that '
            'builds the routing; remove them from the routing config')):
        CapsuleLayer(5, 3, 4, 2, dict(type='DynamicRouting', in_capsules=7))
    with pytest.raises(ValueError, match='was built for a layer'):
        CapsuleLayer(5, 3, 4, 2, routing=DynamicRouting(7, 4, 2))
