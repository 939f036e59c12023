import pytest
import torch

import mmcaps  # noqa: F401
from mmcaps.models.utils import DynamicRouting, build_routing


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
    v, c = DynamicRouting(iterations)(u_hat, return_coupling=True)
    v_ref, c_ref = loop_routing(u_hat, iterations)
    torch.testing.assert_close(v, v_ref.to(v.dtype))
    torch.testing.assert_close(c.double(), c_ref.double())


def test_coupling_sums_to_one_over_outputs():
    torch.manual_seed(1)
    u_hat = torch.randn(4, 10, 7, 16)
    _, c = DynamicRouting(3)(u_hat, return_coupling=True)
    torch.testing.assert_close(c.sum(dim=1), torch.ones(4, 7))
    # Not normalised over the inputs (the common porting bug).
    assert not torch.allclose(c.sum(dim=2), torch.ones(4, 10))


def test_one_iteration_is_uniform_average():
    u_hat = torch.randn(2, 4, 6, 3)
    v = DynamicRouting(1)(u_hat)
    from mmcaps.models.utils import squash
    torch.testing.assert_close(v, squash(u_hat.mean(dim=2) * 6 / 4))


def test_detach_changes_gradient_not_value():
    torch.manual_seed(2)
    u = torch.randn(2, 3, 5, 4, requires_grad=True)
    v_full = DynamicRouting(3)(u)
    v_det = DynamicRouting(3, detach_intermediate=True)(u)
    torch.testing.assert_close(v_full, v_det)
    g_full, = torch.autograd.grad(v_full.pow(2).sum(), u)
    g_det, = torch.autograd.grad(v_det.pow(2).sum(), u)
    assert torch.isfinite(g_full).all() and torch.isfinite(g_det).all()
    assert not torch.allclose(g_full, g_det)


@pytest.mark.parametrize('bad', [0, -1, 1.5, True, '3'])
def test_bad_iterations(bad):
    with pytest.raises(ValueError, match='num_iterations'):
        DynamicRouting(bad)


def test_build_routing_unknown_name():
    with pytest.raises(ValueError, match="Unknown routing type 'Dynamo'.*"
                       'DynamicRouting'):
        build_routing(dict(type='Dynamo'))
    # A registered module that is not a routing is refused as well.
    with pytest.raises(ValueError, match='Unknown routing type'):
        build_routing(dict(type='MarginLoss'))
    r = build_routing(dict(type='DynamicRouting', num_iterations=2))
    assert isinstance(r, DynamicRouting) and r.num_iterations == 2


def test_routing_shape_error():
    with pytest.raises(ValueError, match=r'\(B, N_out, N_in, D_out\)'):
        DynamicRouting()(torch.zeros(2, 3, 4))


def autograd_routing(u_hat, iterations, detach):
    """Dynamic routing left to autograd: the reference for the
    hand-written backward."""
    from mmcaps.models.utils import squash
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
    routing = DynamicRouting(iterations, detach_intermediate=detach)
    v_a = routing(u_a)
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
    assert torch.autograd.gradcheck(lambda x: DynamicRouting(3)(x), (u, ))


def test_multiply_adds():
    # r weighted sums + (r - 1) agreements over (B, N_out, N_in, D_out).
    assert DynamicRouting(3).multiply_adds((2, 10, 1152, 16)) == (
        5 * 2 * 10 * 1152 * 16)
    assert DynamicRouting(1).multiply_adds((1, 3, 4, 5)) == 60
