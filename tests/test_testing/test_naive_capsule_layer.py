"""The fast capsule layer against the straightforward formulation."""
import re

import pytest
import torch
from mmpretrain.registry import MODELS

import mmcaps.models
from mmcaps.models.layers import CapsuleLayer
from mmcaps.models.routings import BaseRouting
from mmcaps.testing import NaiveCapsuleLayer


@pytest.mark.parametrize('iterations', [1, 3])
def test_same_outputs_and_gradients(iterations):
    torch.manual_seed(0)
    fast = CapsuleLayer(1152, 8, 10, 16,
                        dict(type='DynamicRouting',
                             num_iterations=iterations),
                        init_std=0.05)
    naive = NaiveCapsuleLayer(fast)
    u = torch.randn(4, 1152, 8) * 0.3
    u_fast = u.clone().requires_grad_()
    u_naive = u.clone().requires_grad_()
    v_fast, v_naive = fast(u_fast), naive(u_naive)
    torch.testing.assert_close(v_fast, v_naive, rtol=1e-4, atol=1e-6)
    # A loss that weighs every output differently.
    w = torch.randn_like(v_fast)
    (v_fast * w).sum().backward()
    (v_naive * w).sum().backward()
    torch.testing.assert_close(u_fast.grad, u_naive.grad, rtol=1e-4,
                               atol=1e-6)
    grad_naive = naive.weight.grad[0].permute(0, 3, 1, 2).reshape(
        fast.weight.shape)
    torch.testing.assert_close(fast.weight.grad, grad_naive, rtol=1e-4,
                               atol=1e-6)


def test_naive_refuses_other_routing():

    class Other(BaseRouting):

        def route(self, u_hat, activations):
            return u_hat.sum(2), u_hat.new_ones(u_hat.shape[:3])

    layer = CapsuleLayer(4, 2, 3, 2, routing=dict(type=Other))
    with pytest.raises(TypeError, match='^' + re.escape(
            'NaiveCapsuleLayer reproduces DynamicRouting only, got Other')):
        NaiveCapsuleLayer(layer)
    for routing in ('EMRouting', 'SelfAttentionRouting'):
        with pytest.raises(TypeError, match=f'got {routing}$'):
            NaiveCapsuleLayer(CapsuleLayer(4, 2, 3, 2,
                                           routing=dict(type=routing)))


def test_not_in_the_model_api():
    # A reference for tests and the benchmark, not a registered model part.
    assert not hasattr(mmcaps.models, 'NaiveCapsuleLayer')
    assert MODELS.get('NaiveCapsuleLayer') is None


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_autocast_finite(dtype):
    torch.manual_seed(0)
    layer = CapsuleLayer(1152, 8, 10, 16,
                         dict(type='DynamicRouting', num_iterations=3))
    u = (torch.randn(2, 1152, 8) * 5).requires_grad_()
    with torch.autocast('cpu', dtype=dtype):
        v = layer(u)
    assert torch.isfinite(v).all()
    torch.testing.assert_close(v.float(), layer(u).detach(), rtol=0.05,
                               atol=0.02)
    v.float().pow(2).sum().backward()
    assert torch.isfinite(u.grad).all()
    assert torch.isfinite(layer.weight.grad).all()
