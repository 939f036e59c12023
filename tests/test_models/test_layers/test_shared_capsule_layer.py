"""CapsuleLayer with W shared across grid positions, coordinate addition,
and the choice of the full or lean vote path."""
import pytest
import torch
from mmpretrain.structures import DataSample

import mmcaps  # noqa: F401
from mmcaps.models.heads import DigitCapsHead
from mmcaps.models.layers import CapsuleLayer
from mmcaps.models.routings import SelfAttentionRouting

# 3 capsule types on a 2x3 grid of 4-D capsules -> 5 capsules of 6-D.
TYPES, GRID, D_IN, N_OUT, D_OUT = 3, (2, 3), 4, 5, 6
N_IN = TYPES * GRID[0] * GRID[1]
DYNAMIC = dict(type='DynamicRouting', num_iterations=3)


def shared_layer(votes='full', coord_add=False, routing=DYNAMIC, **kwargs):
    torch.manual_seed(0)
    return CapsuleLayer(N_IN, D_IN, N_OUT, D_OUT, routing,
                        weight_sharing=dict(num_types=TYPES, grid=GRID,
                                            coord_add=coord_add),
                        votes=votes, **kwargs).double()


def inputs(batch=2):
    gen = torch.Generator().manual_seed(1)
    return torch.randn(batch, N_IN, D_IN, generator=gen,
                       dtype=torch.float64).requires_grad_()


def test_parameters_one_matrix_per_type_and_class():
    layer = shared_layer(coord_add=True)
    assert layer.weight.shape == (TYPES, D_IN, N_OUT * D_OUT)
    assert sum(p.numel() for p in layer.parameters()) == (
        TYPES * N_OUT * D_IN * D_OUT)
    # The offsets follow from the grid: not in checkpoints.
    assert set(layer.state_dict()) == {'weight'}


def test_imagenet_head_parameters():
    """1,000 classes from 32 types of 8-D capsules on a 7x7 grid: 4,096,000
    parameters shared, 200,704,000 with one matrix per capsule."""
    shared = CapsuleLayer(32 * 49, 8, 1000, 16,
                          weight_sharing=dict(num_types=32, grid=(7, 7)))
    assert shared.weight.numel() == 4_096_000
    assert 32 * 49 * 1000 * 8 * 16 == 200_704_000


def test_sharing_equals_per_capsule_weights_repeated_over_the_grid():
    """Capsule t * H * W + p (type-major) uses W_t: the per-capsule layer
    whose matrices are W_t repeated over the 6 positions gives the same
    outputs and the summed gradient."""
    shared = shared_layer()
    per_capsule = CapsuleLayer(N_IN, D_IN, N_OUT, D_OUT, DYNAMIC).double()
    with torch.no_grad():
        per_capsule.weight.copy_(
            shared.weight.repeat_interleave(GRID[0] * GRID[1], dim=0))
    u = inputs()
    v = shared(u)
    torch.testing.assert_close(v, per_capsule(u))
    v.sum().backward()
    per_capsule(u).sum().backward()
    torch.testing.assert_close(
        shared.weight.grad,
        per_capsule.weight.grad.view(TYPES, -1, D_IN,
                                     N_OUT * D_OUT).sum(1))


def test_coordinate_addition_votes_by_hand():
    """u_hat_j|(t, y, x) = W_tj u + ((y + 0.5) / H, (x + 0.5) / W, 0, ...)."""
    layer = shared_layer(coord_add=True)
    u = inputs(1).detach()
    u_hat = layer.predictions(u)
    w = layer.weight.view(TYPES, D_IN, N_OUT, D_OUT)
    height, width = GRID
    for t in range(TYPES):
        for y in range(height):
            for x in range(width):
                i = t * height * width + y * width + x
                for j in range(N_OUT):
                    expected = u[0, i] @ w[t, :, j]
                    expected[0] += (y + 0.5) / height
                    expected[1] += (x + 0.5) / width
                    torch.testing.assert_close(u_hat[0, j, i], expected)


@pytest.mark.parametrize('coord_add', [False, True])
def test_lean_path_equals_full_path(coord_add):
    full = shared_layer('full', coord_add)
    lean = shared_layer('lean', coord_add, chunk_size=1)
    assert not full.lean and lean.lean
    u = inputs(3)
    v_full, c_full = full(u, return_coupling=True)
    v_lean, c_lean = lean(u, return_coupling=True)
    torch.testing.assert_close(v_lean, v_full, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(c_lean, c_full, rtol=1e-12, atol=1e-12)
    g_full = torch.autograd.grad(v_full.sum(), (u, full.weight))
    g_lean = torch.autograd.grad(v_lean.sum(), (u, lean.weight))
    for a, b in zip(g_lean, g_full):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_lean_path_with_one_matrix_per_capsule():
    torch.manual_seed(0)
    full = CapsuleLayer(N_IN, D_IN, N_OUT, D_OUT, DYNAMIC,
                        votes='full').double()
    lean = CapsuleLayer(N_IN, D_IN, N_OUT, D_OUT, DYNAMIC,
                        votes='lean').double()
    lean.load_state_dict(full.state_dict())
    u = inputs()
    torch.testing.assert_close(lean(u), full(u), rtol=1e-12, atol=1e-12)


def test_auto_takes_the_lean_path_for_shared_dynamic_routing_only():
    assert shared_layer('auto').lean
    assert not CapsuleLayer(N_IN, D_IN, N_OUT, D_OUT, DYNAMIC).lean
    assert not shared_layer(
        'auto', routing=dict(type='SelfAttentionRouting')).lean
    assert "votes='lean'" in repr(shared_layer('auto'))


def test_self_attention_routing_on_shared_weights():
    """Self-attention routing takes the full path: the formed votes, with
    the coordinates added, go to SelfAttentionRouting."""
    layer = shared_layer('auto', coord_add=True,
                         routing=dict(type='SelfAttentionRouting'))
    assert isinstance(layer.routing, SelfAttentionRouting)
    u = inputs()
    v = layer(u)
    expected = layer.routing(layer.predictions(u),
                             u.new_ones(u.shape[:2]))
    torch.testing.assert_close(v, expected)
    v.sum().backward()
    assert torch.isfinite(layer.weight.grad).all()


@pytest.mark.parametrize('kwargs,message', [
    (dict(weight_sharing=dict(num_types=3, grid=(2, 2))),
     r'3 types on a 2x2 grid = 12 capsules, but in_capsules=18'),
    (dict(weight_sharing=dict(num_types=3)),
     r'weight_sharing takes num_types, grid and optionally coord_add, got '
     r"\['num_types'\]"),
    (dict(weight_sharing=dict(num_types=3, grid=(2, 3), stride=1)),
     r'weight_sharing takes num_types, grid and optionally coord_add'),
    (dict(weight_sharing=dict(num_types=3, grid=6)),
     r'weight_sharing.grid must be \(H, W\), got 6'),
    (dict(weight_sharing=dict(num_types=3, grid=(2, 3), coord_add=1)),
     r'weight_sharing.coord_add must be True or False, got 1'),
    (dict(weight_sharing=[3, (2, 3)]), r'weight_sharing must be None or'),
    (dict(votes='fast'),
     r"votes must be one of \('full', 'lean', 'auto'\), got 'fast'"),
    (dict(votes='lean', routing=dict(type='SelfAttentionRouting')),
     r"votes='lean' is dynamic routing on the factors of the votes; "
     r'SelfAttentionRouting routes formed votes'),
    (dict(chunk_size=0), r'chunk_size must be a positive integer, got 0'),
])
def test_bad_arguments(kwargs, message):
    args = dict(routing=DYNAMIC)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        CapsuleLayer(N_IN, D_IN, N_OUT, D_OUT, **args)


def test_coordinate_addition_needs_two_vote_components():
    with pytest.raises(ValueError, match='out_dim=1 has fewer'):
        CapsuleLayer(N_IN, D_IN, N_OUT, 1,
                     weight_sharing=dict(num_types=TYPES, grid=GRID,
                                         coord_add=True))


def test_digitcaps_head_with_shared_weights_trains():
    """The head passes weight_sharing and votes through; 100 classes on a
    7x7 grid of 32 types: 32 * 100 * 8 * 16 = 409,600 parameters."""
    torch.manual_seed(0)
    head = DigitCapsHead(100, 32 * 49, routing=DYNAMIC,
                         weight_sharing=dict(num_types=32, grid=(7, 7),
                                             coord_add=True))
    assert head.capsules.lean
    assert sum(p.numel() for p in head.parameters()) == 409_600
    feats = (torch.rand(2, 32 * 49, 8) * 0.1, )
    losses = head.loss(feats, [DataSample().set_gt_label(y) for y in (3, 99)])
    losses['loss_margin'].backward()
    assert torch.isfinite(head.capsules.weight.grad).all()
    assert head.capsules.weight.grad.abs().sum() > 0
