import re

import pytest
import torch

import mmcaps  # noqa: F401
from mmcaps.models.layers import (ClassMatrixCaps, ConvMatrixCaps,
                                  PrimaryMatrixCaps)
from mmcaps.models.routings import MatrixEMRouting, em_routing
from mmcaps.models.utils import coordinate_offsets


def num_params(module):
    return sum(p.numel() for p in module.parameters())


def capsule_map(n=2, types=2, height=5, width=4, pose_size=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    poses = torch.randn(n, types, pose_size**2, height, width, generator=g)
    acts = torch.rand(n, types, height, width, generator=g)
    return poses, acts


def test_primary_caps_grouping_and_parameters():
    torch.manual_seed(0)
    layer = PrimaryMatrixCaps(6, num_types=3)
    # (C + 1) * T * (P^2 + 1) for a 1x1 kernel.
    assert num_params(layer) == 7 * 3 * 17
    x = torch.randn(2, 6, 5, 4)
    poses, acts = layer(x)
    assert poses.shape == (2, 3, 16, 5, 4) and acts.shape == (2, 3, 5, 4)
    # Entry e of type t is pose channel t * 16 + e.
    conv = layer.pose(x)
    torch.testing.assert_close(poses[:, 2, 5], conv[:, 2 * 16 + 5])
    torch.testing.assert_close(acts, torch.sigmoid(layer.activation(x)))
    # The paper's small model: A = 64, B = 8.
    assert num_params(PrimaryMatrixCaps(64, 8)) == 65 * 8 * 17


def loop_conv_caps(layer, poses, acts):
    """ConvMatrixCaps with explicit loops over output positions, kernel
    positions and input types, routing each receptive field on its own."""
    n, t, _, h, w = poses.shape
    k, s, p = layer.kernel_size, layer.stride, layer.pose_size
    oh, ow = (h - k) // s + 1, (w - k) // s + 1
    out_poses = torch.zeros(n, layer.out_types, p * p, oh, ow)
    out_acts = torch.zeros(n, layer.out_types, oh, ow)
    for y in range(oh):
        for x in range(ow):
            votes, a_in = [], []
            for ti in range(t):
                for ky in range(k):
                    for kx in range(k):
                        m = poses[:, ti, :, y * s + ky, x * s + kx]
                        w_i = layer.weight[(ti * k + ky) * k + kx]
                        # V_ic = M_i W_ic for every output type c.
                        votes.append(
                            torch.stack([
                                m.view(n, p, p) @ w_i[c]
                                for c in range(layer.out_types)
                            ], 1).view(n, layer.out_types, p * p))
                        a_in.append(acts[:, ti, y * s + ky, x * s + kx])
            mu, a, _ = em_routing(
                torch.stack(votes, 2), torch.stack(a_in, 1),
                layer.routing.beta_u, layer.routing.beta_a,
                layer.routing.num_iterations, layer.routing.final_lambda)
            out_poses[..., y, x] = mu
            out_acts[..., y, x] = a
    return out_poses, out_acts


@pytest.mark.parametrize('kernel,stride', [(3, 2), (2, 1)])
def test_conv_caps_matches_loop_over_positions(kernel, stride):
    torch.manual_seed(1)
    layer = ConvMatrixCaps(2, 3, kernel, stride,
                           routing=dict(num_iterations=2, final_lambda=1.0))
    assert isinstance(layer.routing, MatrixEMRouting)
    assert layer.routing.out_types == 3
    torch.nn.init.normal_(layer.routing.beta_u)
    torch.nn.init.normal_(layer.routing.beta_a)
    poses, acts = capsule_map()
    out_poses, out_acts = layer((poses, acts))
    oh, ow = (5 - kernel) // stride + 1, (4 - kernel) // stride + 1
    assert out_poses.shape == (2, 3, 16, oh, ow)
    assert out_acts.shape == (2, 3, oh, ow)
    ref_poses, ref_acts = loop_conv_caps(layer, poses, acts)
    torch.testing.assert_close(out_poses, ref_poses, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(out_acts, ref_acts, atol=1e-5, rtol=1e-4)
    assert ((out_acts > 0) & (out_acts < 1)).all()


def test_conv_caps_parameters():
    # K^2 * T_in * T_out * P^2 + 2 * T_out: the paper's small model.
    assert num_params(ConvMatrixCaps(8, 16, 3, 2)) == 9 * 8 * 16 * 16 + 32
    assert num_params(ConvMatrixCaps(16, 16, 3, 1)) == 9 * 16 * 16 * 16 + 32
    assert num_params(ConvMatrixCaps(32, 32, 3, 2)) == 147520


def test_conv_caps_backward_is_finite():
    torch.manual_seed(2)
    layer = ConvMatrixCaps(2, 2, 3, 1)
    poses, acts = capsule_map(height=3, width=3)
    poses.requires_grad_()
    out_poses, out_acts = layer((poses, acts))
    (out_poses.sum() + out_acts.sum()).backward()
    for g in (poses.grad, layer.weight.grad, layer.routing.beta_a.grad):
        assert g is not None and torch.isfinite(g).all()


def test_conv_caps_bad_input():
    layer = ConvMatrixCaps(2, 3, kernel_size=3)
    with pytest.raises(ValueError, match=r'kernel_size=3 is larger than the '
                       r'2x4 capsule map'):
        layer(capsule_map(height=2))
    with pytest.raises(ValueError, match=r'expects poses \(N, 2, 16, H, W\) '
                       r'and activations \(N, 2, H, W\), got \(2, 3, 16'):
        layer(capsule_map(types=3))
    with pytest.raises(ValueError, match=r'a pair \(poses, activations\)'):
        layer(torch.zeros(2, 2, 16, 5, 5))
    with pytest.raises(ValueError, match='stride must be a positive integer'):
        ConvMatrixCaps(2, 3, stride=0)
    # Matrix capsules route with MatrixEMRouting: the vector EMRouting and
    # other routings are refused.
    for bad in ('DynamicRouting', 'EMRouting'):
        with pytest.raises(ValueError, match='^' + re.escape(
                'ConvMatrixCaps routes matrix capsules with EM: routing must '
                f"be a MatrixEMRouting config, got type '{bad}'")):
            ConvMatrixCaps(2, 3, routing=dict(type=bad))
    with pytest.raises(ValueError, match='^' + re.escape(
            'ConvMatrixCaps: out_types is set by the layer; remove it from '
            'the routing config')):
        ConvMatrixCaps(2, 3, routing=dict(out_types=3))
    with pytest.raises(ValueError, match='num_iterations must be a positive'):
        ConvMatrixCaps(2, 3, routing=dict(type='MatrixEMRouting',
                                          num_iterations=0))


def test_routing_config_with_or_without_type():
    for routing in (dict(type='MatrixEMRouting', num_iterations=2,
                         final_lambda=0.5, lambda_decay=0.3, eps=1e-6),
                    dict(type=MatrixEMRouting, num_iterations=2,
                         final_lambda=0.5, lambda_decay=0.3, eps=1e-6),
                    dict(num_iterations=2, final_lambda=0.5,
                         lambda_decay=0.3, eps=1e-6)):
        before = dict(routing)
        for layer, types in ((ConvMatrixCaps(2, 3, routing=routing), 3),
                             (ClassMatrixCaps(2, 5, routing=routing), 5)):
            r = layer.routing
            assert isinstance(r, MatrixEMRouting)
            assert (r.out_types, r.num_iterations, r.final_lambda,
                    r.lambda_decay, r.eps) == (types, 2, 0.5, 0.3, 1e-6)
        # The config is not modified.
        assert routing == before
    default = ConvMatrixCaps(2, 3).routing
    assert (default.num_iterations, default.final_lambda,
            default.lambda_decay, default.eps) == (3, 0.01, 0.95, 1e-8)
    with pytest.raises(ValueError, match='^' + re.escape(
            'ClassMatrixCaps routes matrix capsules with EM: routing must be '
            "a MatrixEMRouting config, got type 'SelfAttentionRouting'")):
        ClassMatrixCaps(2, 5, routing=dict(type='SelfAttentionRouting'))


def test_class_caps_votes_and_coordinate_addition():
    torch.manual_seed(3)
    layer = ClassMatrixCaps(2, 4)
    plain = ClassMatrixCaps(2, 4, coord_add=False)
    plain.weight.data.copy_(layer.weight.data)
    poses, acts = capsule_map(height=2, width=3)
    votes = layer.votes(poses)
    assert votes.shape == (2, 4, 2 * 2 * 3, 16)
    # Input capsule i = (t * H + y) * W + x votes M_i W_tk for class k.
    t, y, x, k = 1, 1, 2, 3
    i = (t * 2 + y) * 3 + x
    m = poses[0, t, :, y, x].view(4, 4)
    expected = m @ layer.weight[t, k]
    expected[0, 3] += 0.75  # row: (1 + 0.5) / 2
    expected[1, 3] += 2.5 / 3  # column: (2 + 0.5) / 3
    torch.testing.assert_close(votes[0, k, i], expected.flatten())
    diff = (votes - plain.votes(poses)).view(2, 4, 2, 6, 16)
    torch.testing.assert_close(diff[..., 3], coordinate_offsets(
        2, 3, 4)[:, 0, 3].expand(2, 4, 2, 6))
    torch.testing.assert_close(diff[..., 7], coordinate_offsets(
        2, 3, 4)[:, 1, 3].expand(2, 4, 2, 6))
    diff[..., 3] = 0
    diff[..., 7] = 0
    assert diff.abs().max() < 1e-6
    # The output is EM routing of these votes, activations flattened in
    # the same order.
    out_poses, out_acts = layer((poses, acts))
    mu, a, _ = em_routing(votes, acts.reshape(2, -1), layer.routing.beta_u,
                          layer.routing.beta_a)
    torch.testing.assert_close(out_poses, mu)
    torch.testing.assert_close(out_acts, a)
    assert out_poses.shape == (2, 4, 16) and out_acts.shape == (2, 4)


def test_class_caps_parameters_and_bad_arguments():
    # T * K * P^2 + 2 * K.
    assert num_params(ClassMatrixCaps(16, 10)) == 16 * 10 * 16 + 20
    assert num_params(ClassMatrixCaps(32, 5)) == 2570
    with pytest.raises(ValueError, match='num_classes must be a positive'):
        ClassMatrixCaps(16, 0)
    with pytest.raises(ValueError, match='coord_add needs pose_size >= 2'):
        ClassMatrixCaps(16, 10, pose_size=1)
