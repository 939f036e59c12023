import math

import pytest
import torch

import mmcaps  # noqa: F401
from mmcaps.models.heads import DigitCapsHead
from mmcaps.models.utils import (CapsuleLayer, EMRouting, build_routing,
                                 capsule_length, em_routing)


def loop_em(votes, acts, beta_u, beta_a, iterations, final_lambda=0.01,
            decay=0.95, eps=1e-8):
    """Procedure 1 of the paper with plain loops over i, j and h, the
    Gaussian densities as products of probabilities.

    votes (B, J, I, H), acts (B, I) -> mu (B, J, H), a (B, J), R (B, J, I)
    (R of the last M-step)."""
    batch, n_out, n_in, dim = votes.shape
    mus, outs, rs = [], [], []
    for b in range(batch):
        r = [[1.0 / n_out] * n_out for _ in range(n_in)]
        for it in range(iterations):
            lam = final_lambda * (1 - decay**(it + 1))
            mu, var, a = [], [], []
            for j in range(n_out):
                rp = [r[i][j] * float(acts[b, i]) for i in range(n_in)]
                mass = sum(rp)
                mu.append([
                    sum(rp[i] * float(votes[b, j, i, h])
                        for i in range(n_in)) / (mass + eps)
                    for h in range(dim)
                ])
                var.append([
                    sum(rp[i] * (float(votes[b, j, i, h]) - mu[j][h])**2
                        for i in range(n_in)) / (mass + eps) + eps
                    for h in range(dim)
                ])
                cost = sum((float(beta_u[j]) + math.log(math.sqrt(var[j][h])))
                           * mass for h in range(dim))
                a.append(1 / (1 + math.exp(-lam * (float(beta_a[j]) - cost))))
            last_r = [row[:] for row in r]
            if it < iterations - 1:
                for i in range(n_in):
                    ap = []
                    for j in range(n_out):
                        p = 1.0
                        for h in range(dim):
                            d = float(votes[b, j, i, h]) - mu[j][h]
                            p *= math.exp(-d * d / (2 * var[j][h])) / \
                                math.sqrt(2 * math.pi * var[j][h])
                        ap.append(a[j] * p)
                    r[i] = [x / sum(ap) for x in ap]
        mus.append(mu)
        outs.append(a)
        rs.append([[last_r[i][j] for i in range(n_in)]
                   for j in range(n_out)])
    as_t = lambda x: torch.tensor(x, dtype=torch.float64)  # noqa: E731
    return as_t(mus), as_t(outs), as_t(rs)


def tiny_case(seed=0, batch=2, n_out=3, n_in=5, dim=4, spread=1.0):
    g = torch.Generator().manual_seed(seed)
    # Votes of each output scattered around a centre: EM has something
    # to find.
    centres = torch.randn(batch, n_out, 1, dim, generator=g,
                          dtype=torch.float64)
    votes = centres + 0.3 * torch.randn(
        batch, n_out, n_in, dim, generator=g, dtype=torch.float64)
    votes = spread * votes / votes.abs().amax().item() * 0.9
    acts = torch.rand(batch, n_in, generator=g, dtype=torch.float64)
    beta_u = torch.randn(n_out, generator=g, dtype=torch.float64)
    beta_a = torch.randn(n_out, generator=g, dtype=torch.float64)
    return votes, acts, beta_u, beta_a


@pytest.mark.parametrize('iterations', [1, 2, 3])
@pytest.mark.parametrize('final_lambda,decay', [(0.01, 0.95), (1.0, 0.0)])
def test_em_routing_matches_loop(iterations, final_lambda, decay):
    votes, acts, beta_u, beta_a = tiny_case()
    mu, a, r = em_routing(votes, acts, beta_u, beta_a, iterations,
                          final_lambda, decay)
    mu_ref, a_ref, r_ref = loop_em(votes, acts, beta_u, beta_a, iterations,
                                   final_lambda, decay)
    torch.testing.assert_close(mu, mu_ref)
    torch.testing.assert_close(a, a_ref)
    torch.testing.assert_close(r, r_ref)


def test_votes_beyond_one_are_rescaled_exactly():
    # |votes| up to 30: computed in units of the largest vote entry of each
    # output, put back exactly (the eps floor is negligible here).
    votes, acts, beta_u, beta_a = tiny_case(seed=1, spread=30.0)
    mu, a, r = em_routing(votes, acts, beta_u, beta_a, 3, 1.0, 0.5,
                          eps=1e-14)
    mu_ref, a_ref, r_ref = loop_em(votes, acts, beta_u, beta_a, 3, 1.0, 0.5,
                                   eps=1e-14)
    torch.testing.assert_close(mu, mu_ref)
    torch.testing.assert_close(a, a_ref)
    torch.testing.assert_close(r, r_ref)


def test_assignments_sum_to_one_over_outputs_and_activations_in_0_1():
    torch.manual_seed(1)
    votes = torch.randn(4, 6, 7, 16)
    _, a, r = em_routing(votes, torch.rand(4, 7), torch.randn(6),
                         torch.randn(6), 3, final_lambda=1.0)
    torch.testing.assert_close(r.sum(dim=1), torch.ones(4, 7))
    assert not torch.allclose(r.sum(dim=2), torch.ones(4, 6))
    # Not uniform any more after the E-steps.
    assert r.std() > 0.01
    assert ((a > 0) & (a < 1)).all()


def test_agreeing_votes_win_the_activation():
    # Output 0 gets identical votes, output 1 scattered ones.
    votes = torch.zeros(1, 2, 8, 4)
    votes[0, 1] = torch.linspace(-1, 1, 32).view(8, 4)
    _, a, _ = em_routing(votes, torch.ones(1, 8), torch.zeros(2),
                         torch.zeros(2))
    assert a[0, 0] > a[0, 1]


def test_gradcheck():
    votes, acts, beta_u, beta_a = tiny_case(batch=1, n_out=2, n_in=3,
                                            dim=2)
    args = [x.requires_grad_() for x in (votes, acts, beta_u, beta_a)]

    def fn(v, a, bu, ba):
        return em_routing(v, a, bu, ba, 3, final_lambda=1.0)

    assert torch.autograd.gradcheck(fn, args)


@pytest.mark.parametrize('dtype', [torch.float32, torch.float16,
                                   torch.bfloat16])
@pytest.mark.parametrize('kind', ['zero', 'max', 'mixed'])
def test_zero_and_huge_votes_stay_finite(dtype, kind):
    torch.manual_seed(0)
    big = torch.finfo(dtype).max
    votes = {
        'zero': torch.zeros(2, 3, 5, 4),
        'max': torch.randn(2, 3, 5, 4).sign() * big,
        'mixed': torch.randn(2, 3, 5, 4).sign() * torch.tensor(
            [0., 1e-30, 1., big]).view(1, 1, 1, 4),
    }[kind].to(dtype).requires_grad_()
    acts = torch.rand(2, 5).requires_grad_()
    routing = EMRouting(3)
    for a_in in (acts, torch.zeros(2, 5)):  # also all inputs inactive
        mu, a, r = routing.route(votes, a_in)
        v = routing(votes, activations=a_in)
        for x in (mu, a, r, v):
            assert torch.isfinite(x).all()
        assert ((a > 0) & (a < 1)).all()
        torch.testing.assert_close(r.sum(dim=1), torch.ones(2, 5))
        loss = a.sum() + capsule_length(v).sum() + (mu / big).sum()
        grads = torch.autograd.grad(
            loss, [votes, acts, routing.beta_u, routing.beta_a],
            allow_unused=True)
        assert all(g is None or torch.isfinite(g).all() for g in grads)


def test_fp32_accumulation_under_autocast():
    torch.manual_seed(2)
    votes = torch.randn(2, 3, 6, 16)
    acts = torch.rand(2, 6)
    routing = EMRouting(3, final_lambda=1.0)
    ref = routing.route(votes.bfloat16().float(), acts)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = routing.route(votes.bfloat16(), acts)
    for x, y in zip(out, ref):
        assert x.dtype == torch.float32
        torch.testing.assert_close(x, y)


def test_drop_in_output_length_is_the_activation():
    torch.manual_seed(3)
    routing = EMRouting(4, num_iterations=2)
    u_hat = torch.randn(3, 4, 9, 6)
    acts = torch.rand(3, 9)
    v, r = routing(u_hat, return_coupling=True, activations=acts)
    mu, a, r_ref = em_routing(u_hat, acts, routing.beta_u, routing.beta_a, 2)
    torch.testing.assert_close(capsule_length(v), a)
    torch.testing.assert_close(v, a.unsqueeze(-1) * mu / mu.norm(
        dim=-1, keepdim=True))
    torch.testing.assert_close(r, r_ref)
    # No activations: every input fully active.
    torch.testing.assert_close(routing(u_hat),
                               routing(u_hat, activations=torch.ones(3, 9)))


def test_capsule_layer_passes_lengths_as_activations():
    torch.manual_seed(4)
    layer = CapsuleLayer(6, 8, 3, 4,
                         routing=dict(type='EMRouting', num_iterations=2))
    routing = layer.routing
    assert isinstance(routing, EMRouting) and routing.out_capsules == 3
    u = torch.randn(2, 6, 8) * 0.3
    v, r = layer(u, return_coupling=True)
    mu, a, r_ref = em_routing(layer.predictions(u), capsule_length(u),
                              routing.beta_u, routing.beta_a, 2)
    torch.testing.assert_close(capsule_length(v), a)
    torch.testing.assert_close(r, r_ref)


def test_digitcaps_head_with_em_routing_trains():
    torch.manual_seed(5)
    head = DigitCapsHead(4, 12, in_dim=8, out_dim=6,
                         routing=dict(type='EMRouting', num_iterations=3))
    # W plus beta_u and beta_a per class.
    assert sum(p.numel() for p in head.parameters()) == 12 * 4 * 8 * 6 + 8
    from mmpretrain.structures import DataSample
    feats = (torch.rand(2, 12, 8) * 0.3, )
    samples = [DataSample().set_gt_label(i) for i in (1, 3)]
    loss = head.loss(feats, samples)['loss_margin']
    loss.backward()
    assert torch.isfinite(loss)
    assert head.capsules.routing.beta_a.grad.abs().sum() > 0
    preds = head.predict(feats)
    _, a, _ = head.capsules.routing.route(
        head.capsules.predictions(feats[0]), capsule_length(feats[0]))
    torch.testing.assert_close(torch.stack([p.pred_score for p in preds]),
                               a.detach())


def test_parameters_and_multiply_adds():
    routing = build_routing(dict(type='EMRouting', num_iterations=3),
                            in_capsules=1152, out_capsules=10, out_dim=16)
    assert sum(p.numel() for p in routing.parameters()) == 20
    assert routing.multiply_adds((2, 10, 1152, 16)) == 12 * 2 * 10 * 1152 * 16


@pytest.mark.parametrize('kwargs,message', [
    (dict(num_iterations=0), 'num_iterations must be a positive integer'),
    (dict(num_iterations=-1), 'num_iterations must be a positive integer'),
    (dict(num_iterations=1.5), 'num_iterations must be a positive integer'),
    (dict(num_iterations=True), 'num_iterations must be a positive integer'),
    (dict(final_lambda=0), 'final_lambda .* must be a positive number'),
    (dict(final_lambda=float('inf')), 'final_lambda'),
    (dict(lambda_decay=1.0), r'lambda_decay must be in \[0, 1\)'),
    (dict(lambda_decay=-0.1), r'lambda_decay must be in \[0, 1\)'),
    (dict(eps=0), r'eps must be in \(0, 1\)'),
    (dict(out_capsules=0), 'out_capsules must be a positive integer'),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        EMRouting(**{'out_capsules': 3, **kwargs})


def test_bad_shapes():
    routing = EMRouting(3)
    with pytest.raises(ValueError, match=r'shape \(B, N_out, N_in, D_out\)'):
        routing(torch.zeros(3, 5, 4))
    with pytest.raises(ValueError, match=r'votes of shape \(B, 3, N_in, D\)'):
        routing(torch.zeros(2, 4, 5, 4))
    with pytest.raises(ValueError, match=r'activations of shape \(2, 5\)'):
        routing(torch.zeros(2, 3, 5, 4), activations=torch.zeros(2, 4))
