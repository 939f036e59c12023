import math
import re

import pytest
import torch
from mmengine.analysis import FlopAnalyzer
from mmpretrain.structures import DataSample

import mmcaps  # noqa: F401
from mmcaps.models.heads import DigitCapsHead
from mmcaps.models.layers import CapsuleLayer
from mmcaps.models.routings import (EMRouting, MatrixEMRouting, build_routing,
                                    em_routing)
from mmcaps.models.utils import capsule_length


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
    matrix = MatrixEMRouting(3)
    vector = EMRouting(5, 3, 4)
    for a_in in (acts, torch.zeros(2, 5)):  # also all inputs inactive
        mu, a, r = matrix(votes, a_in)
        v = vector(votes, a_in)
        for x in (mu, a, r, v):
            assert torch.isfinite(x).all()
        assert ((a > 0) & (a < 1)).all()
        torch.testing.assert_close(r.sum(dim=1), torch.ones(2, 5))
        loss = a.sum() + capsule_length(v).sum() + (mu / big).sum()
        grads = torch.autograd.grad(
            loss, [votes, acts, matrix.beta_u, matrix.beta_a,
                   vector.beta_u, vector.beta_a],
            allow_unused=True)
        assert all(g is None or torch.isfinite(g).all() for g in grads)


def test_fp32_accumulation_under_autocast():
    torch.manual_seed(2)
    votes = torch.randn(2, 3, 6, 16)
    acts = torch.rand(2, 6)
    routing = MatrixEMRouting(3, final_lambda=1.0)
    ref = routing(votes.bfloat16().float(), acts)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = routing(votes.bfloat16(), acts)
    for x, y in zip(out, ref):
        assert x.dtype == torch.float32
        torch.testing.assert_close(x, y)
    # The vector capsules come back in the votes' dtype, the assignments
    # in float32.
    vector = EMRouting(6, 3, 16, final_lambda=1.0)
    v_ref, r_ref = vector(votes.bfloat16().float(), acts,
                          return_coupling=True)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        v, r = vector(votes.bfloat16(), acts, return_coupling=True)
    assert v.dtype == torch.bfloat16 and r.dtype == torch.float32
    torch.testing.assert_close(v, v_ref.bfloat16())
    torch.testing.assert_close(r, r_ref)


def test_drop_in_output_length_is_the_activation():
    torch.manual_seed(3)
    routing = EMRouting(9, 4, 6, num_iterations=2)
    torch.nn.init.normal_(routing.beta_u)
    torch.nn.init.normal_(routing.beta_a)
    u_hat = torch.randn(3, 4, 9, 6)
    acts = torch.rand(3, 9)
    v, r = routing(u_hat, acts, return_coupling=True)
    mu, a, r_ref = em_routing(u_hat, acts, routing.beta_u, routing.beta_a, 2)
    torch.testing.assert_close(capsule_length(v), a)
    torch.testing.assert_close(v, a.unsqueeze(-1) * mu / mu.norm(
        dim=-1, keepdim=True))
    torch.testing.assert_close(r, r_ref)
    # route() is the same algorithm on the same (checked) inputs.
    v_route, r_route = routing.route(u_hat, acts)
    assert torch.equal(v_route, v) and torch.equal(r_route, r)
    # The activations are used: all inputs fully active is another routing.
    ones = torch.ones(3, 9)
    mu1, a1, _ = em_routing(u_hat, ones, routing.beta_u, routing.beta_a, 2)
    torch.testing.assert_close(routing(u_hat, ones),
                               a1.unsqueeze(-1) * mu1 / mu1.norm(
                                   dim=-1, keepdim=True))
    assert not torch.allclose(routing(u_hat, ones), v)


def test_zero_mean_gives_the_zero_vector():
    # Votes that cancel: mean 0, shorter than eps; v = a * 0 / eps = 0.
    u_hat = torch.ones(1, 2, 4, 3)
    u_hat[:, :, 2:] = -1
    v = EMRouting(4, 2, 3)(u_hat, torch.ones(1, 4))
    assert torch.equal(v, torch.zeros(1, 2, 3))


def test_capsule_layer_passes_lengths_as_activations():
    torch.manual_seed(4)
    layer = CapsuleLayer(6, 8, 3, 4,
                         routing=dict(type='EMRouting', num_iterations=2))
    routing = layer.routing
    assert isinstance(routing, EMRouting) and routing.out_capsules == 3
    assert (routing.in_capsules, routing.out_dim) == (6, 4)
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
    feats = (torch.rand(2, 12, 8) * 0.3, )
    samples = [DataSample().set_gt_label(i) for i in (1, 3)]
    loss = head.loss(feats, samples)['loss_margin']
    loss.backward()
    assert torch.isfinite(loss)
    assert head.capsules.routing.beta_a.grad.abs().sum() > 0
    preds = head.predict(feats)
    routing = head.capsules.routing
    _, a, _ = em_routing(head.capsules.predictions(feats[0]),
                         capsule_length(feats[0]), routing.beta_u,
                         routing.beta_a, 3)
    torch.testing.assert_close(torch.stack([p.pred_score for p in preds]),
                               a.detach())


def test_matrix_em_routing_is_em_routing_with_its_betas():
    votes, acts, beta_u, beta_a = tiny_case(seed=2, n_out=4)
    routing = MatrixEMRouting(4, num_iterations=2, final_lambda=0.5,
                              lambda_decay=0.3, eps=1e-6).double()
    with torch.no_grad():
        routing.beta_u.copy_(beta_u)
        routing.beta_a.copy_(beta_a)
    out = routing(votes, acts)
    ref = em_routing(votes, acts, beta_u, beta_a, 2, 0.5, 0.3, 1e-6)
    assert len(out) == 3
    for x, y in zip(out, ref):
        torch.testing.assert_close(x, y, rtol=0, atol=0)
    # Against the loops, too.
    for x, y in zip(out, loop_em(votes, acts, beta_u, beta_a, 2, 0.5, 0.3,
                                 1e-6)):
        torch.testing.assert_close(x, y)
    # The betas are its parameters: 2 * out_types, initialised to 0.
    fresh = MatrixEMRouting(4)
    assert dict(fresh.named_parameters()).keys() == {'beta_u', 'beta_a'}
    assert torch.equal(fresh.beta_u, torch.zeros(4))
    assert torch.equal(fresh.beta_a, torch.zeros(4))
    assert repr(fresh) == ('MatrixEMRouting(out_types=4, num_iterations=3, '
                           'final_lambda=0.01, lambda_decay=0.95, '
                           'eps=1e-08)')
    grads = torch.autograd.grad(routing(votes, acts)[1].sum(),
                                [routing.beta_u, routing.beta_a])
    assert all(g.abs().sum() > 0 for g in grads)


def test_vector_and_matrix_em_are_separate_classes():
    # EMRouting follows the routing contract; MatrixEMRouting is what the
    # matrix layers call, and is no BaseRouting (build_routing refuses it).
    assert repr(EMRouting(5, 3, 4)) == (
        'EMRouting(in_capsules=5, out_capsules=3, out_dim=4, '
        'num_iterations=3, final_lambda=0.01, lambda_decay=0.95, eps=1e-08)')
    with pytest.raises(ValueError, match="Unknown routing type "
                       "'MatrixEMRouting'"):
        build_routing(dict(type='MatrixEMRouting'), 5, 3, 4)


def test_parameters_and_flops():
    routing = build_routing(dict(type='EMRouting', num_iterations=3),
                            in_capsules=1152, out_capsules=10, out_dim=16)
    assert sum(p.numel() for p in routing.parameters()) == 20
    # The jit FLOP counter sees inside EM routing (no handle needed): per
    # iteration the mean and the variance, per E-step (all but the last
    # iteration) the Mahalanobis terms, each a vote-sized matmul
    # B * N_out * N_in * D_out; beside the votes' bmm.
    for iterations in (1, 3):
        layer = CapsuleLayer(1152, 8, 10, 16, dict(
            type='EMRouting', num_iterations=iterations))
        analyzer = FlopAnalyzer(layer, (torch.rand(2, 1152, 8), ))
        analyzer.unsupported_ops_warnings(False)
        analyzer.uncalled_modules_warnings(False)
        vote_sized = 2 * 10 * 1152 * 16
        em = (3 * iterations - 1) * vote_sized
        assert analyzer.by_module()['routing'] == em
        assert analyzer.total() == 1152 * 2 * 8 * 160 + em


@pytest.mark.parametrize('kwargs,message', [
    (dict(num_iterations=0),
     'EM routing: num_iterations must be a positive integer, got 0'),
    (dict(num_iterations=-1),
     'EM routing: num_iterations must be a positive integer, got -1'),
    (dict(num_iterations=1.5),
     'EM routing: num_iterations must be a positive integer, got 1.5'),
    (dict(num_iterations=True),
     'EM routing: num_iterations must be a positive integer, got True'),
    (dict(final_lambda=0), 'EM routing: final_lambda (the inverse '
     'temperature) must be a positive number, got 0'),
    (dict(final_lambda=float('inf')), 'EM routing: final_lambda (the '
     'inverse temperature) must be a positive number, got inf'),
    (dict(lambda_decay=1.0),
     'EM routing: lambda_decay must be a number in [0, 1), got 1.0'),
    (dict(lambda_decay=-0.1),
     'EM routing: lambda_decay must be a number in [0, 1), got -0.1'),
    (dict(eps=0), 'EM routing: eps must be a number in (0, 1), got 0'),
])
def test_bad_arguments(kwargs, message):
    pattern = '^' + re.escape(message) + '$'
    with pytest.raises(ValueError, match=pattern):
        EMRouting(5, 3, 4, **kwargs)
    with pytest.raises(ValueError, match=pattern):
        MatrixEMRouting(3, **kwargs)
    with pytest.raises(ValueError, match=pattern):
        em_routing(*tiny_case(n_in=5), **kwargs)


def test_bad_layer_sizes():
    with pytest.raises(ValueError, match='^' + re.escape(
            'EMRouting: out_capsules must be a positive integer, got 0')):
        EMRouting(5, 0, 4)
    with pytest.raises(ValueError, match='^' + re.escape(
            'MatrixEMRouting: out_types must be a positive integer, got '
            'True')):
        MatrixEMRouting(True)


def test_bad_shapes():
    routing = EMRouting(5, 3, 4)
    with pytest.raises(ValueError, match=re.escape(
            'routes votes of shape (B, N_out=3, N_in=5, D_out=4)')):
        routing(torch.zeros(3, 5, 4), torch.zeros(3, 5))
    with pytest.raises(ValueError, match=re.escape(
            'routes votes of shape (B, N_out=3, N_in=5, D_out=4) (the layer '
            'it was built for), got (2, 4, 5, 4)')):
        routing(torch.zeros(2, 4, 5, 4), torch.zeros(2, 5))
    with pytest.raises(ValueError, match=re.escape(
            'EMRouting expects activations of shape (2, 5), got (2, 4)')):
        routing(torch.zeros(2, 3, 5, 4), torch.zeros(2, 4))
    matrix = MatrixEMRouting(3)
    with pytest.raises(ValueError, match=re.escape(
            'MatrixEMRouting expects votes of shape (B, 3, N_in, P * P), got '
            '(2, 4, 5, 4)')):
        matrix(torch.zeros(2, 4, 5, 4), torch.zeros(2, 5))
    with pytest.raises(ValueError, match=re.escape(
            'MatrixEMRouting expects votes of shape (B, 3, N_in, P * P), got '
            '(3, 5, 4)')):
        matrix(torch.zeros(3, 5, 4), torch.zeros(3, 5))
    with pytest.raises(ValueError, match=re.escape(
            'em_routing expects activations of shape (2, 5) for votes of '
            'shape (2, 3, 5, 4), got (2, 4)')):
        matrix(torch.zeros(2, 3, 5, 4), torch.zeros(2, 4))
    with pytest.raises(ValueError, match=re.escape(
            'em_routing expects votes of shape (B, N_out, N_in, D), got '
            '(3, 5, 4)')):
        em_routing(torch.zeros(3, 5, 4), torch.zeros(3, 5), torch.zeros(5),
                   torch.zeros(5))
