import math
import re
from pathlib import Path

import pytest
import torch
from mmengine.analysis import FlopAnalyzer
from mmengine.config import Config
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import mmcaps  # noqa: F401
from mmcaps.models.layers import CapsuleLayer
from mmcaps.models.routings import SelfAttentionRouting, build_routing
from mmcaps.models.utils import squash, squash_efficient

REPO = Path(__file__).resolve().parents[3]


def loop_self_attention(u_hat, priors):
    """Self-attention routing written with plain loops over b, j, i, k.

    u_hat: (B, N_out, N_in, D), priors: (N_out, N_in)
    -> v (B, N_out, D), c (B, N_out, N_in)."""
    batch, n_out, n_in, d = u_hat.shape
    vs, cs = [], []
    for b in range(batch):
        # logits[i][j] = sum_k A_j[i, k], A_j = U_j U_j^T / sqrt(D)
        logits = [[
            sum(float(u_hat[b, j, i] @ u_hat[b, j, k])
                for k in range(n_in)) / math.sqrt(d) for j in range(n_out)
        ] for i in range(n_in)]
        c = []
        for i in range(n_in):
            top = max(logits[i])
            e = [math.exp(x - top) for x in logits[i]]
            c.append([x / sum(e) for x in e])
        v = []
        for j in range(n_out):
            s = sum((c[i][j] + float(priors[j, i])) * u_hat[b, j, i]
                    for i in range(n_in))
            n = float(s.norm())
            v.append((1 - math.exp(-n)) * s / n)
        vs.append(torch.stack(v))
        cs.append(torch.tensor(c, dtype=u_hat.dtype).T)
    return torch.stack(vs), torch.stack(cs)


def matrix_self_attention(u_hat, priors):
    """The paper's equations with the N_in x N_in matrices A_j formed."""
    d = u_hat.shape[-1]
    attention = torch.einsum('bjid,bjkd->bjik', u_hat, u_hat) / math.sqrt(d)
    coupling = attention.sum(dim=-1).softmax(dim=1)
    s = ((coupling + priors).unsqueeze(-1) * u_hat).sum(dim=2)
    return squash_efficient(s), coupling


def ones(u_hat):
    """Input activations of 1 (self-attention routing does not use them)."""
    return u_hat.new_ones(u_hat.shape[0], u_hat.shape[2])


def routing_with_priors(n_out, n_in, dim, seed=0):
    routing = SelfAttentionRouting(n_in, n_out, dim).double()
    with torch.no_grad():
        routing.log_priors.copy_(
            torch.randn(n_out, n_in, generator=torch.Generator().manual_seed(
                seed), dtype=torch.float64) * 0.3)
    return routing


def test_matches_loop_reference():
    torch.manual_seed(0)
    u_hat = torch.randn(2, 3, 5, 4, dtype=torch.float64)
    routing = routing_with_priors(3, 5, 4)
    v, c = routing(u_hat, ones(u_hat), return_coupling=True)
    v_ref, c_ref = loop_self_attention(u_hat, routing.log_priors.detach())
    torch.testing.assert_close(v, v_ref)
    torch.testing.assert_close(c, c_ref)


def test_matches_explicit_attention_matrix():
    # Row sums of A without forming A: the same values, float32 and 64.
    torch.manual_seed(1)
    u_hat = torch.randn(3, 10, 16, 16, dtype=torch.float64) * 0.5
    routing = routing_with_priors(10, 16, 16, seed=1)
    v, c = routing(u_hat, ones(u_hat), return_coupling=True)
    v_ref, c_ref = matrix_self_attention(u_hat, routing.log_priors.detach())
    torch.testing.assert_close(v, v_ref, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(c, c_ref, rtol=1e-12, atol=1e-14)
    v32 = routing.float()(u_hat.float(), ones(u_hat).float())
    torch.testing.assert_close(v32, v_ref.float())


def test_hand_computed_two_outputs_one_input():
    # D = 1, one input capsule: logits u_j^2, so c = softmax(1, 4) for
    # votes 1 and 2; v_j = (1 - e^-|s_j|) sign(s_j) with s_j = c_j u_j.
    u_hat = torch.tensor([[[[1.0]], [[2.0]]]], dtype=torch.float64)
    v, c = SelfAttentionRouting(1, 2, 1).double()(u_hat, ones(u_hat),
                                                  return_coupling=True)
    c0 = math.e / (math.e + math.e**4)
    torch.testing.assert_close(c.flatten(),
                               torch.tensor([c0, 1 - c0],
                                            dtype=torch.float64))
    expected = [1 - math.exp(-c0), 1 - math.exp(-2 * (1 - c0))]
    torch.testing.assert_close(v.flatten(),
                               torch.tensor(expected, dtype=torch.float64))


def test_coupling_sums_to_one_over_outputs():
    torch.manual_seed(2)
    u_hat = torch.randn(4, 10, 7, 16)
    _, c = SelfAttentionRouting(7, 10, 16)(u_hat, ones(u_hat),
                                           return_coupling=True)
    torch.testing.assert_close(c.sum(dim=1), torch.ones(4, 7))
    assert not torch.allclose(c.sum(dim=2), torch.ones(4, 10))


def test_log_priors_added_after_softmax():
    # Zero votes for output 0: its coupling is irrelevant; the priors
    # weigh the votes of output 1 on top of c.
    torch.manual_seed(3)
    u_hat = torch.randn(1, 2, 3, 4)
    routing = SelfAttentionRouting(3, 2, 4)
    assert routing.log_priors.shape == (2, 3)
    assert torch.equal(routing.log_priors, torch.zeros(2, 3))
    _, c = routing(u_hat, ones(u_hat), return_coupling=True)
    with torch.no_grad():
        routing.log_priors.fill_(0.5)
    v, c_after = routing(u_hat, ones(u_hat), return_coupling=True)
    torch.testing.assert_close(c_after, c)
    s = ((c + 0.5).unsqueeze(-1) * u_hat).sum(dim=2)
    torch.testing.assert_close(v, squash_efficient(s))


def test_squash_option():
    torch.manual_seed(4)
    u_hat = torch.randn(2, 3, 4, 5)
    paper = SelfAttentionRouting(4, 3, 5)
    sabour = SelfAttentionRouting(4, 3, 5, squash='sabour')
    acts = ones(u_hat)
    _, c = paper(u_hat, acts, return_coupling=True)
    s = (c.unsqueeze(-1) * u_hat).sum(dim=2)
    torch.testing.assert_close(paper(u_hat, acts), squash_efficient(s))
    torch.testing.assert_close(sabour(u_hat, acts), squash(s))
    assert repr(sabour) == ('SelfAttentionRouting(in_capsules=4, '
                            "out_capsules=3, out_dim=5, squash='sabour')")


def test_activations_are_not_used():
    torch.manual_seed(10)
    u_hat = torch.randn(2, 3, 4, 5)
    routing = SelfAttentionRouting(4, 3, 5)
    v, c = routing(u_hat, ones(u_hat), return_coupling=True)
    v_other, c_other = routing(u_hat, torch.rand(2, 4), return_coupling=True)
    assert torch.equal(v, v_other) and torch.equal(c, c_other)


@pytest.mark.parametrize('in_capsules,out_capsules,out_dim,batch',
                         [(1152, 10, 16, 2), (4, 3, 5, 1)])
def test_flops_inside_capsule_layer(in_capsules, out_capsules, out_dim,
                                    batch):
    # The jit FLOP counter sees the agreement and the weighted sum, each
    # B * N_out * N_in * D_out (no handle needed), beside the votes' bmm.
    layer = CapsuleLayer(in_capsules, 8, out_capsules, out_dim,
                         dict(type='SelfAttentionRouting'))
    analyzer = FlopAnalyzer(layer, (torch.rand(batch, in_capsules, 8), ))
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    routing = 2 * batch * out_capsules * in_capsules * out_dim
    assert analyzer.by_module()['routing'] == routing
    assert analyzer.total() == (
        in_capsules * batch * 8 * out_capsules * out_dim + routing)
    if in_capsules == 4:
        assert routing == 120


def test_gradcheck():
    torch.manual_seed(5)
    u = (torch.randn(1, 3, 4, 3, dtype=torch.float64) * 0.8)
    u.requires_grad_()
    routing = routing_with_priors(3, 4, 3, seed=5)

    def run(votes, priors):
        return torch.func.functional_call(routing, {'log_priors': priors},
                                          (votes, ones(votes), True))

    priors = routing.log_priors.detach().clone().requires_grad_()
    assert torch.autograd.gradcheck(run, (u, priors))


def test_zero_votes():
    u = torch.zeros(2, 3, 4, 5, requires_grad=True)
    routing = SelfAttentionRouting(4, 3, 5)
    v, c = routing(u, ones(u), return_coupling=True)
    assert torch.equal(v, torch.zeros(2, 3, 5))
    torch.testing.assert_close(c, torch.full((2, 3, 4), 1 / 3))
    v.sum().backward()
    assert torch.isfinite(u.grad).all()
    assert torch.isfinite(routing.log_priors.grad).all()


def test_huge_votes_finite():
    # u . sum(u) ~ 1e40 * N_in * D overflows float32; the routing rescales
    # it and matches the float64 computation.
    torch.manual_seed(6)
    u = torch.randn(2, 3, 8, 16) * 1e20
    u.requires_grad_()
    routing = SelfAttentionRouting(8, 3, 16)
    v, c = routing(u, ones(u), return_coupling=True)
    assert torch.isfinite(v).all() and torch.isfinite(c).all()
    v_ref, c_ref = matrix_self_attention(u.detach().double(),
                                         torch.zeros(3, 8,
                                                     dtype=torch.float64))
    torch.testing.assert_close(c.double(), c_ref)
    torch.testing.assert_close(v.double(), v_ref)
    (v * torch.randn_like(v)).sum().backward()
    assert torch.isfinite(u.grad).all()
    assert torch.isfinite(routing.log_priors.grad).all()


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_half_precision_votes(dtype):
    # Vote sums of 1152 fp16 votes near 200 overflow fp16; the routing runs
    # in float32 and returns the input dtype.
    torch.manual_seed(7)
    u = (torch.rand(2, 10, 1152, 16) * 200).to(dtype)
    routing = SelfAttentionRouting(1152, 10, 16)
    v = routing(u, ones(u))
    assert v.dtype == dtype and torch.isfinite(v).all()
    torch.testing.assert_close(v.float(),
                               routing(u.float(), ones(u).float()),
                               rtol=1e-2, atol=1e-2)


def test_runs_in_float32_under_autocast():
    torch.manual_seed(8)
    u = torch.randn(2, 10, 16, 16)
    routing = SelfAttentionRouting(16, 10, 16)
    expected, c_expected = routing(u, ones(u), return_coupling=True)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        v, c = routing(u, ones(u), return_coupling=True)
    assert v.dtype == torch.float32 and c.dtype == torch.float32
    torch.testing.assert_close(v, expected, rtol=0, atol=0)
    torch.testing.assert_close(c, c_expected, rtol=0, atol=0)


@pytest.mark.parametrize('kwargs, message', [
    (dict(in_capsules=0, out_capsules=3),
     'SelfAttentionRouting: in_capsules must be a positive integer, got 0'),
    (dict(in_capsules=True, out_capsules=3),
     'SelfAttentionRouting: in_capsules must be a positive integer, got '
     'True'),
    (dict(in_capsules=4, out_capsules=1.5),
     'SelfAttentionRouting: out_capsules must be a positive integer, got '
     '1.5'),
    (dict(in_capsules=4, out_capsules=3, squash='hinton'),
     "SelfAttentionRouting: squash must be one of ['efficient', 'sabour'], "
     "got 'hinton'"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match='^' + re.escape(message) + '$'):
        SelfAttentionRouting(out_dim=8, **kwargs)


def test_wrong_vote_shape():
    routing = SelfAttentionRouting(4, 3, 8)
    with pytest.raises(ValueError, match=r'N_out=3, N_in=4'):
        routing(torch.zeros(2, 3, 5, 8), torch.ones(2, 5))
    with pytest.raises(ValueError, match=r'\(B, N_out=3'):
        routing(torch.zeros(3, 4, 8), torch.ones(3, 4))


def test_built_by_capsule_layer():
    layer = CapsuleLayer(16, 8, 10, 16,
                         routing=dict(type='SelfAttentionRouting'))
    assert isinstance(layer.routing, SelfAttentionRouting)
    assert layer.routing.log_priors.shape == (10, 16)
    assert sum(p.numel() for p in layer.parameters()) == 20480 + 160
    v, c = layer(squash_efficient(torch.randn(2, 16, 8)),
                 return_coupling=True)
    assert v.shape == (2, 10, 16) and c.shape == (2, 10, 16)
    assert build_routing(dict(type='SelfAttentionRouting'), in_capsules=5,
                         out_capsules=2, out_dim=4).log_priors.shape == (2, 5)


def test_paper_capsnet_drop_in_config_learns():
    # The paper CapsNet with self-attention routing: 10 x 1152 log priors on
    # top of its 8,215,568 parameters. Narrowed (8 conv channels, 72
    # capsules of 4-D), a few Adam steps on one batch decrease the loss.
    cfg = Config.fromfile(
        str(REPO / 'configs/capsnet/capsnet_selfattn-recon_1xb128_mnist.py'))
    model = MODELS.build(cfg.model)
    routing = model.head.capsules.routing
    assert isinstance(routing, SelfAttentionRouting)
    assert routing.log_priors.shape == (10, 1152)
    assert sum(p.numel() for p in model.parameters()) == 8215568 + 11520
    cfg.model.backbone.update(conv1_channels=8, primary_types=2,
                              primary_dim=4)
    cfg.model.head.update(in_capsules=72, in_dim=4,
                          decoder=dict(hidden_dims=(16, )))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    data = dict(
        inputs=list(torch.randint(0, 256, (4, 1, 28, 28), dtype=torch.uint8)),
        data_samples=[DataSample().set_gt_label(i) for i in (3, 7, 1, 0)])
    batch = model.data_preprocessor(data, training=False)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(5):
        loss = sum(model(**batch, mode='loss').values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert all(map(math.isfinite, losses))
    assert losses[-1] < 0.9 * losses[0], losses
