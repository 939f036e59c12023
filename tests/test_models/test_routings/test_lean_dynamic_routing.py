"""The lean (vote-free) path of dynamic routing against DynamicRouting on
votes formed independently, gradcheck, its FLOP handle and its memory."""
import pytest
import torch
from mmengine.analysis import FlopAnalyzer
from torch.profiler import ProfilerActivity, profile

import mmcaps  # noqa: F401
from mmcaps.models.layers import CapsuleLayer
from mmcaps.models.routings import (FLOP_HANDLES, DynamicRouting,
                                    lean_dynamic_routing)
from mmcaps.models.routings.lean_dynamic_routing import (
    auto_chunk_size, lean_dynamic_routing_macs)

# B images, T weight groups of P positions, D_in -> D_out, N_out outputs.
B, T, P, D_IN, N_OUT, D_OUT = 3, 2, 3, 4, 5, 6


def factors(dtype=torch.float64, offsets=True, positions=P, seed=0):
    gen = torch.Generator().manual_seed(seed)
    u = torch.randn(B, T, positions, D_IN, generator=gen, dtype=dtype)
    weight = torch.randn(T, D_IN, N_OUT, D_OUT, generator=gen,
                         dtype=dtype) * 0.5
    off = None
    if offsets:
        off = torch.zeros(positions, D_OUT, dtype=dtype)
        off[:, :2] = torch.rand(positions, 2, generator=gen, dtype=dtype)
    return u.requires_grad_(), weight.requires_grad_(), off


def formed_votes(u, weight, offsets):
    """The votes by their definition, ``(B, N_out, T * P, D_out)``:
    u_hat[b, j, t * P + p] = sum_d u[b, t, p, d] W[t, d, j, :] + o[p]."""
    u_hat = torch.einsum('btpd,tdjo->bjtpo', u, weight)
    if offsets is not None:
        u_hat = u_hat + offsets
    return u_hat.flatten(2, 3)


def reference(u, weight, offsets, iterations, detach=False):
    u_hat = formed_votes(u, weight, offsets)
    _, n_out, n_in, d_out = u_hat.shape
    routing = DynamicRouting(n_in, n_out, d_out, iterations, detach)
    return routing(u_hat, u_hat.new_ones(u_hat.shape[:1] + u_hat.shape[2:3]),
                   return_coupling=True)


@pytest.mark.parametrize('positions,offsets', [(1, False), (P, False),
                                               (P, True)])
@pytest.mark.parametrize('iterations', [1, 2, 3])
@pytest.mark.parametrize('detach', [False, True])
@pytest.mark.parametrize('chunk_size', [None, 2])
def test_equals_dynamic_routing_on_formed_votes(positions, offsets,
                                                iterations, detach,
                                                chunk_size):
    """Outputs, couplings and gradients (u and W) equal DynamicRouting's
    on the votes formed by einsum, for one matrix per capsule (P = 1),
    shared matrices, coordinate offsets, one chunk and chunks of 2
    images, in float64."""
    u, weight, off = factors(offsets=offsets, positions=positions)
    v_ref, c_ref = reference(u, weight, off, iterations, detach)
    v, c = lean_dynamic_routing(u, weight, off, iterations, detach,
                                chunk_size, return_coupling=True)
    torch.testing.assert_close(v, v_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(c, c_ref, rtol=1e-12, atol=1e-12)
    grad = torch.randn_like(v)
    g_ref = torch.autograd.grad(v_ref, (u, weight), grad)
    g = torch.autograd.grad(v, (u, weight), grad)
    for a, b in zip(g, g_ref):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_gradcheck():
    """Numerical gradients (three iterations, gradients through all of
    them, coordinate offsets, chunks of one image); detach_intermediate
    changes the gradients by design, so only DynamicRouting checks it."""
    gen = torch.Generator().manual_seed(0)
    u = torch.randn(2, 2, 2, 3, generator=gen, dtype=torch.float64)
    weight = torch.randn(2, 3, 3, 4, generator=gen, dtype=torch.float64)
    off = torch.zeros(2, 4, dtype=torch.float64)
    off[:, :2] = torch.rand(2, 2, generator=gen, dtype=torch.float64)

    def fn(u, weight):
        return lean_dynamic_routing(u, weight, off, 3, False, 1)

    assert torch.autograd.gradcheck(
        fn, (u.requires_grad_(), weight.requires_grad_()))


def test_float32_matches_the_full_path_to_float32_tolerance():
    """Float32 at a head's scale (32 types on a 7x7 grid, 100 classes):
    the sums run in another order, nothing more."""
    gen = torch.Generator().manual_seed(0)
    u = torch.randn(2, 32, 49, 8, generator=gen) * 0.1
    weight = torch.randn(32, 8, 100, 16, generator=gen) * 0.1
    u.requires_grad_(), weight.requires_grad_()
    v_ref, _ = reference(u, weight, None, 3)
    v = lean_dynamic_routing(u, weight, None, 3)
    torch.testing.assert_close(v, v_ref, rtol=1e-4, atol=1e-6)
    g_ref = torch.autograd.grad(v_ref.square().sum(), (u, weight))
    g = torch.autograd.grad(v.square().sum(), (u, weight))
    for a, b in zip(g, g_ref):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_runs_in_float32_under_autocast():
    """Under bfloat16 autocast the routing still runs in float32: the
    result is the one without autocast."""
    u, weight, _ = factors(dtype=torch.float32)
    expected = lean_dynamic_routing(u, weight, None, 3)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        v = lean_dynamic_routing(u, weight, None, 3)
    assert v.dtype == torch.float32
    torch.testing.assert_close(v, expected, rtol=0, atol=0)


def test_auto_chunk_size():
    # 1000 classes, 32 types on a 7x7 grid, 8-D: 7,296,000 bytes an image;
    # 24 MiB on a CPU, 128 MiB on a GPU.
    assert auto_chunk_size(32, 49, 8, 1000) == 3
    assert auto_chunk_size(32, 49, 8, 1000, device_type='cuda') == 18
    # Never less than one image.
    assert auto_chunk_size(32, 49, 8, 10**6) == 1


def test_flop_handle_counts_the_lean_forward():
    """mmengine's counter sees only the handle for the autograd function.
    B=2, T=2, P=3, D_in=4, N_out=5, D_out=6: the first iteration's pooled
    product 2*5*2*4*(1+6) = 560 (+ offsets 2*5*1*6 = 60), then 2 iterations
    x 2 products (agreement, weighted sum) of 2*5*2*4*(3+6) = 720 (+
    offsets 2*5*3*6 = 180)."""
    layer = CapsuleLayer(T * P, D_IN, N_OUT, D_OUT,
                         dict(type='DynamicRouting', num_iterations=3),
                         weight_sharing=dict(num_types=T, grid=(1, P),
                                             coord_add=True),
                         votes='lean')
    analyzer = FlopAnalyzer(layer, (torch.rand(2, T * P, D_IN), ))
    analyzer.set_op_handle(**FLOP_HANDLES)
    analyzer.unsupported_ops_warnings(False)
    expected = 560 + 60 + 2 * 2 * (720 + 180)
    assert lean_dynamic_routing_macs(2, T, P, D_IN, N_OUT, D_OUT, 3,
                                     True) == expected
    assert dict(analyzer.by_operator()) == {
        'PythonOp._LeanDynamicRoutingFunction': expected
    }


def peak_allocated(fn):
    """Peak bytes allocated while fn runs, replayed from torch.profiler's
    allocation records."""
    with profile(activities=[ProfilerActivity.CPU],
                 profile_memory=True) as prof:
        fn()
    live = peak = 0
    for record in sorted((e for e in prof.profiler.kineto_results.events()
                          if e.name() == '[memory]'),
                         key=lambda e: e.start_ns()):
        live += record.nbytes()
        peak = max(peak, live)
    return peak


def test_never_forms_the_votes():
    """Forward and backward of 100 classes on 32 types x 7x7, batch 8: the
    votes would be 8 * 100 * 1568 * 16 * 4 bytes = 76.6 MiB. The lean
    path holds at most five coupling-sized tensors at a time (4.8 MiB
    each: in the backward the couplings, their gradient, the logits'
    gradient and the softmax backward's temporary) and four W-sized ones
    (1.6 MiB each: W in the output-major layout, its gradient there, the
    gradient returned, weight.grad)."""
    gen = torch.Generator().manual_seed(0)
    u = torch.randn(8, 32, 49, 8, generator=gen).requires_grad_()
    weight = (torch.randn(32, 8, 100, 16, generator=gen) *
              0.1).requires_grad_()
    votes_bytes = 8 * 100 * 32 * 49 * 16 * 4
    coupling_bytes = 8 * 32 * 49 * 100 * 4
    weight_bytes = weight.numel() * 4

    def step():
        lean_dynamic_routing(u, weight, None, 3).square().sum().backward()

    peak = peak_allocated(step)
    assert peak < 5 * coupling_bytes + 4 * weight_bytes < votes_bytes / 2
