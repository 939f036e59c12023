"""The routing contract: BaseRouting checks the shapes and handles
return_coupling, an algorithm implements route(), build_routing gives every
routing the layer's description."""
import re

import pytest
import torch
import torch.nn as nn
from mmpretrain.registry import MODELS

import mmcaps  # noqa: F401
from mmcaps.models.layers import CapsuleLayer
from mmcaps.models.routings import (BaseRouting, DynamicRouting, EMRouting,
                                    MatrixEMRouting, SelfAttentionRouting,
                                    build_routing)
from mmcaps.models.utils import capsule_length

ROUTINGS = [DynamicRouting, EMRouting, SelfAttentionRouting]


class WeightedMean(BaseRouting):
    """Only route(): output j is the mean of its votes weighted by the
    input activations; the coupling is the normalised activations. Records
    the activations it was given."""

    def __init__(self, in_capsules, out_capsules, out_dim, scale=1.0):
        super().__init__(in_capsules, out_capsules, out_dim)
        self.scale = scale
        self.seen = None

    def route(self, u_hat, activations):
        self.seen = activations
        weights = activations / activations.sum(dim=1, keepdim=True)
        coupling = weights.unsqueeze(1).expand(-1, self.out_capsules, -1)
        v = self.scale * (coupling.unsqueeze(-1) * u_hat).sum(dim=2)
        return v, coupling


def test_forward_returns_route_and_handles_return_coupling():
    torch.manual_seed(0)
    routing = WeightedMean(5, 3, 4)
    u_hat = torch.randn(2, 3, 5, 4)
    acts = torch.rand(2, 5) + 0.1
    v = routing(u_hat, acts)
    assert isinstance(v, torch.Tensor)
    v2, coupling = routing(u_hat, acts, return_coupling=True)
    # By hand: sum_i a_i u_hat_j|i / sum_i a_i.
    expected = (acts[:, None, :, None] * u_hat).sum(2) / acts.sum(
        1)[:, None, None]
    torch.testing.assert_close(v, expected)
    torch.testing.assert_close(v2, expected)
    torch.testing.assert_close(coupling[:, 1], acts / acts.sum(1,
                                                               keepdim=True))
    assert routing.seen is acts


@pytest.mark.parametrize('cls', ROUTINGS + [WeightedMean])
def test_vote_shape_errors_name_the_layer(cls):
    routing = cls(5, 3, 4)
    name = cls.__name__
    acts = torch.ones(2, 5)
    for shape in [(2, 3, 5), (2, 3, 5, 4, 1), (2, 4, 5, 4), (2, 3, 6, 4),
                  (2, 3, 5, 8), (3, 5, 4)]:
        with pytest.raises(ValueError, match='^' + re.escape(
                f'{name} routes votes of shape (B, N_out=3, N_in=5, '
                f'D_out=4) (the layer it was built for), got {shape}')):
            routing(torch.zeros(shape), acts)


@pytest.mark.parametrize('cls', ROUTINGS + [WeightedMean])
def test_activation_shape_errors(cls):
    routing = cls(5, 3, 4)
    u_hat = torch.zeros(2, 3, 5, 4)
    for shape in [(2, 4), (3, 5), (2, 5, 1), (5, ), (2, 3, 5)]:
        with pytest.raises(ValueError, match='^' + re.escape(
                f'{cls.__name__} expects activations of shape (2, 5), got '
                f'{shape}')):
            routing(u_hat, torch.ones(shape))
    with pytest.raises(TypeError):
        routing(u_hat)  # the activations are not optional


@pytest.mark.parametrize('cls', ROUTINGS)
def test_every_routing_returns_output_and_coupling(cls):
    torch.manual_seed(1)
    routing = cls(5, 3, 4)
    u_hat = torch.randn(2, 3, 5, 4) * 0.5
    acts = torch.rand(2, 5)
    v = routing(u_hat, acts)
    v2, coupling = routing(u_hat, acts, return_coupling=True)
    assert v.shape == (2, 3, 4) and coupling.shape == (2, 3, 5)
    torch.testing.assert_close(v2, v)
    # The share of each input capsule sent to each output sums to 1.
    torch.testing.assert_close(coupling.sum(dim=1), torch.ones(2, 5))
    assert routing.in_capsules == 5 and routing.out_capsules == 3
    assert routing.out_dim == 4


@pytest.mark.parametrize('cls', ROUTINGS)
def test_no_capability_flags_or_multiply_adds(cls):
    # One contract: no flag decides what a routing gets, and the FLOP
    # counter sees inside the routings (or uses FLOP_HANDLES).
    for attr in ('uses_activations', 'multiply_adds'):
        assert not hasattr(cls, attr)
    assert 'route' in vars(cls) and 'forward' not in vars(cls)


def test_base_routing_is_abstract_and_checks_the_layer():
    with pytest.raises(TypeError, match='route'):
        BaseRouting(5, 3, 4)

    class NoRoute(BaseRouting):
        pass

    with pytest.raises(TypeError, match='route'):
        NoRoute(5, 3, 4)
    for args, name in [((0, 3, 4), 'in_capsules'), ((5, 0, 4), 'out_capsules'),
                       ((5, 3, -1), 'out_dim')]:
        bad = args[['in_capsules', 'out_capsules', 'out_dim'].index(name)]
        with pytest.raises(ValueError, match='^' + re.escape(
                f'WeightedMean: {name} must be a positive integer, got '
                f'{bad}')):
            WeightedMean(*args)
    with pytest.raises(ValueError, match='in_capsules must be a positive '
                       'integer, got True'):
        WeightedMean(True, 3, 4)
    assert repr(WeightedMean(5, 3, 4)) == (
        'WeightedMean(in_capsules=5, out_capsules=3, out_dim=4)')


def test_custom_routing_inside_capsule_layer_gets_the_lengths():
    # Not registered: build_routing takes a routing class as `type`, and
    # passes the layer's description with the config's options.
    torch.manual_seed(2)
    layer = CapsuleLayer(5, 3, 4, 2, dict(type=WeightedMean, scale=2.0))
    routing = layer.routing
    assert (routing.in_capsules, routing.out_capsules,
            routing.out_dim) == (5, 4, 2)
    assert routing.scale == 2.0
    u = torch.randn(2, 5, 3)
    v, coupling = layer(u, return_coupling=True)
    lengths = u.norm(dim=-1)
    torch.testing.assert_close(routing.seen, lengths)
    u_hat = layer.predictions(u)
    expected = 2.0 * (lengths[:, None, :, None] * u_hat).sum(2) / lengths.sum(
        1)[:, None, None]
    torch.testing.assert_close(v, expected)
    assert coupling.shape == (2, 4, 5)


def test_build_routing_gives_the_layer_description():
    for call in (
            lambda cfg: build_routing(cfg, 6, 4, 3),
            lambda cfg: build_routing(cfg, in_capsules=6, out_capsules=4,
                                      out_dim=3),
    ):
        cfg = dict(type='DynamicRouting', num_iterations=2)
        routing = call(cfg)
        assert isinstance(routing, DynamicRouting)
        assert (routing.in_capsules, routing.out_capsules,
                routing.out_dim, routing.num_iterations) == (6, 4, 3, 2)
        # The config is not modified.
        assert cfg == dict(type='DynamicRouting', num_iterations=2)
    default = build_routing(None, 6, 4, 3)
    assert type(default) is DynamicRouting and default.num_iterations == 3
    assert build_routing(dict(type=SelfAttentionRouting), 6, 4,
                         3).log_priors.shape == (4, 6)


def test_build_routing_refuses_layer_arguments_in_the_config():
    with pytest.raises(ValueError, match='^' + re.escape(
            'DynamicRouting: in_capsules are set by the capsule layer that '
            'builds the routing; remove them from the routing config')):
        build_routing(dict(type='DynamicRouting', in_capsules=7), 5, 3, 4)
    with pytest.raises(ValueError, match='^' + re.escape(
            'EMRouting: out_capsules, out_dim are set by the capsule layer')):
        build_routing(dict(type='EMRouting', out_dim=4, out_capsules=3), 5,
                      3, 4)
    # Also through the layer.
    with pytest.raises(ValueError, match='in_capsules are set by the capsule '
                       'layer'):
        CapsuleLayer(5, 3, 4, 2, dict(type=WeightedMean, in_capsules=7))


def test_build_routing_refuses_unknown_types():
    for bad in ('Dynamo', 'MarginLoss', 'MatrixEMRouting', None, nn.Linear,
                MatrixEMRouting, 3):
        # Registered modules that are not routings (a loss, the matrix-
        # capsule EM module) are refused as well.
        with pytest.raises(ValueError, match='^' + re.escape(
                f'Unknown routing type {bad!r}; registered routing '
                f'algorithms: ')) as info:
            build_routing(dict(type=bad), 5, 3, 4)
        # mmcaps' routings are listed (tests may register more).
        listed = str(info.value).split('algorithms: ')[1]
        assert all(f"'{cls.__name__}'" in listed for cls in ROUTINGS)
    with pytest.raises(ValueError, match='Unknown routing type None'):
        build_routing(dict(num_iterations=3), 5, 3, 4)


def test_build_routing_takes_a_routing_built_for_the_layer():
    routing = EMRouting(5, 3, 4)
    assert build_routing(routing, 5, 3, 4) is routing
    layer = CapsuleLayer(5, 2, 3, 4, routing=routing)
    assert layer.routing is routing
    with pytest.raises(ValueError, match='^' + re.escape(
            "EMRouting was built for a layer {'in_capsules': 5, "
            "'out_capsules': 3, 'out_dim': 4}, not this one "
            "{'in_capsules': 6, 'out_capsules': 3, 'out_dim': 4}")):
        build_routing(routing, 6, 3, 4)


def test_registered_routings_build_from_their_names():
    for cls in ROUTINGS:
        assert MODELS.get(cls.__name__) is cls
        routing = build_routing(dict(type=cls.__name__), 5, 3, 4)
        assert type(routing) is cls
        out = routing(torch.randn(1, 3, 5, 4), torch.rand(1, 5))
        assert out.shape == (1, 3, 4) and torch.isfinite(out).all()


def test_capsule_layer_calls_a_registered_routing_with_votes_and_lengths():
    torch.manual_seed(3)
    layer = CapsuleLayer(6, 4, 3, 5, dict(type='EMRouting'))
    u = torch.randn(2, 6, 4) * 0.3
    calls = []
    layer.routing.register_forward_hook(
        lambda module, args, out: calls.append(args))
    layer(u)
    (u_hat, acts, return_coupling), = calls
    assert return_coupling is False
    torch.testing.assert_close(acts, capsule_length(u))
    torch.testing.assert_close(u_hat, layer.predictions(u))
