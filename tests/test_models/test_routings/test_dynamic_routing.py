import re

import pytest
import torch
from mmengine.analysis import FlopAnalyzer

import mmcaps  # noqa: F401
from mmcaps.models.layers import CapsuleLayer
from mmcaps.models.routings import (FLOP_HANDLES, DynamicRouting,
                                    build_routing, dynamic_routing_flop_jit)
from mmcaps.models.utils import squash


def routing_for(u_hat, iterations=3, **kwargs):
    """DynamicRouting built for votes of u_hat's shape."""
    _, n_out, n_in, d_out = u_hat.shape
    return DynamicRouting(n_in, n_out, d_out, iterations, **kwargs)


def route(u_hat, iterations=3, return_coupling=False, **kwargs):
    """Dynamic routing of u_hat, the input activations all 1 (dynamic
    routing does not use them)."""
    activations = u_hat.new_ones(u_hat.shape[0], u_hat.shape[2])
    return routing_for(u_hat, iterations, **kwargs)(u_hat, activations,
                                                    return_coupling)


def loop_routing(u_hat, iterations):
    """Procedure 1 of the paper written with plain loops over i and j.

    u_hat: (B, N_out, N_in, D) -> v (B, N_out, D), c (B, N_out, N_in)."""
    batch, n_out, n_in, _ = u_hat.shape
    vs, cs = [], []
    for b in range(batch):
        logits = [[0.0] * n_out for _ in range(n_in)]
        for it in range(iterations):
            c = []
            for i in range(n_in):
                e = [torch.exp(torch.tensor(x)) for x in logits[i]]
                tot = sum(e)
                c.append([x / tot for x in e])
            v = []
            for j in range(n_out):
                s = sum(c[i][j] * u_hat[b, j, i] for i in range(n_in))
                n2 = (s * s).sum()
                v.append(n2 / (1 + n2) * s / torch.sqrt(n2))
            if it < iterations - 1:
                for i in range(n_in):
                    for j in range(n_out):
                        logits[i][j] += float((u_hat[b, j, i] * v[j]).sum())
        vs.append(torch.stack(v))
        cs.append(torch.tensor(c).T)
    return torch.stack(vs), torch.stack(cs)


@pytest.mark.parametrize('iterations', [1, 2, 3])
def test_dynamic_routing_matches_loop(iterations):
    torch.manual_seed(0)
    u_hat = torch.randn(2, 3, 5, 4, dtype=torch.float64)
    v, c = route(u_hat, iterations, return_coupling=True)
    v_ref, c_ref = loop_routing(u_hat, iterations)
    torch.testing.assert_close(v, v_ref.to(v.dtype))
    torch.testing.assert_close(c.double(), c_ref.double())


def test_coupling_sums_to_one_over_outputs():
    torch.manual_seed(1)
    u_hat = torch.randn(4, 10, 7, 16)
    _, c = route(u_hat, 3, return_coupling=True)
    torch.testing.assert_close(c.sum(dim=1), torch.ones(4, 7))
    # Not normalised over the inputs (the common porting bug).
    assert not torch.allclose(c.sum(dim=2), torch.ones(4, 10))


def test_one_iteration_is_uniform_average():
    u_hat = torch.randn(2, 4, 6, 3)
    v = route(u_hat, 1)
    torch.testing.assert_close(v, squash(u_hat.mean(dim=2) * 6 / 4))


def test_detach_changes_gradient_not_value():
    torch.manual_seed(2)
    u = torch.randn(2, 3, 5, 4, requires_grad=True)
    v_full = route(u, 3)
    v_det = route(u, 3, detach_intermediate=True)
    torch.testing.assert_close(v_full, v_det)
    g_full, = torch.autograd.grad(v_full.pow(2).sum(), u)
    g_det, = torch.autograd.grad(v_det.pow(2).sum(), u)
    assert torch.isfinite(g_full).all() and torch.isfinite(g_det).all()
    assert not torch.allclose(g_full, g_det)


def test_activations_are_not_used():
    torch.manual_seed(3)
    u_hat = torch.randn(2, 3, 5, 4)
    routing = routing_for(u_hat)
    v, c = routing(u_hat, torch.ones(2, 5), return_coupling=True)
    v_other, c_other = routing(u_hat, torch.rand(2, 5), return_coupling=True)
    assert torch.equal(v, v_other) and torch.equal(c, c_other)


@pytest.mark.parametrize('bad', [0, -1, 1.5, True, '3'])
def test_bad_iterations(bad):
    with pytest.raises(ValueError, match='^' + re.escape(
            'DynamicRouting: num_iterations must be a positive integer, '
            f'got {bad!r}')):
        DynamicRouting(5, 3, 4, num_iterations=bad)


def test_build_routing_passes_options():
    r = build_routing(dict(type='DynamicRouting', num_iterations=2,
                           detach_intermediate=True), 5, 3, 4)
    assert isinstance(r, DynamicRouting) and r.num_iterations == 2
    assert r.detach_intermediate
    assert repr(r) == ('DynamicRouting(in_capsules=5, out_capsules=3, '
                       'out_dim=4, num_iterations=2, '
                       'detach_intermediate=True)')


def test_routing_shape_error():
    with pytest.raises(ValueError, match=re.escape(
            '(B, N_out=3, N_in=4, D_out=2)')):
        DynamicRouting(4, 3, 2)(torch.zeros(2, 3, 4), torch.ones(2, 4))


def autograd_routing(u_hat, iterations, detach):
    """Dynamic routing left to autograd: the reference for the
    hand-written backward."""
    logits = torch.zeros(u_hat.shape[:3], dtype=u_hat.dtype)
    for it in range(iterations):
        last = it == iterations - 1
        votes = u_hat if last or not detach else u_hat.detach()
        c = logits.softmax(dim=1)
        v = squash((c.unsqueeze(-1) * votes).sum(dim=2))
        if not last:
            logits = logits + (votes * v.unsqueeze(2)).sum(-1)
    return v


@pytest.mark.parametrize('detach', [False, True])
@pytest.mark.parametrize('iterations', [1, 2, 3, 5])
def test_hand_written_backward_matches_autograd(iterations, detach):
    torch.manual_seed(iterations)
    u = (torch.randn(3, 4, 6, 5, dtype=torch.float64) * 0.7)
    u_a = u.clone().requires_grad_()
    u_b = u.clone().requires_grad_()
    v_a = route(u_a, iterations, detach_intermediate=detach)
    v_b = autograd_routing(u_b, iterations, detach)
    torch.testing.assert_close(v_a, v_b)
    w = torch.randn_like(v_a)
    (v_a * w).sum().backward()
    (v_b * w).sum().backward()
    torch.testing.assert_close(u_a.grad, u_b.grad)


def test_gradcheck():
    torch.manual_seed(0)
    u = (torch.randn(2, 3, 4, 3, dtype=torch.float64) * 0.8)
    u.requires_grad_()
    assert torch.autograd.gradcheck(lambda x: route(x, 3), (u, ))


def capsule_layer_flops(layer, batch, handles=True):
    """mmengine's jit FLOP count of one CapsuleLayer forward, in total and
    of its routing."""
    analyzer = FlopAnalyzer(layer, (torch.rand(batch, layer.in_capsules,
                                               layer.in_dim), ))
    if handles:
        analyzer.set_op_handle(**FLOP_HANDLES)
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    return analyzer.total(), analyzer.by_module()['routing']


@pytest.mark.parametrize('iterations', [1, 3])
def test_flop_handle_counts_the_routing_inside_capsule_layer(iterations):
    # r weighted sums + (r - 1) agreements over (B, N_out, N_in, D_out),
    # beside the votes' (N_in, B, D_in) @ (N_in, D_in, N_out * D_out).
    assert FLOP_HANDLES['prim::PythonOp._DynamicRoutingFunction'] is (
        dynamic_routing_flop_jit)
    layer = CapsuleLayer(1152, 8, 10, 16,
                         dict(type='DynamicRouting',
                              num_iterations=iterations))
    votes = 1152 * 2 * 8 * 160
    routing = (2 * iterations - 1) * 2 * 10 * 1152 * 16
    assert capsule_layer_flops(layer, 2) == (votes + routing, routing)
    # The counter cannot see inside the autograd function on its own.
    assert capsule_layer_flops(layer, 2, handles=False) == (votes, 0)
    small = CapsuleLayer(4, 2, 3, 5, dict(type='DynamicRouting',
                                          num_iterations=iterations))
    assert capsule_layer_flops(small, 1)[1] == (2 * iterations - 1) * 60
