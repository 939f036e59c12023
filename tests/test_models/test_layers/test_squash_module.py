import pytest
import torch

from mmcaps.models.layers import Squash
from mmcaps.models.utils import squash


@pytest.mark.parametrize('dim', [-1, 1, 0])
def test_squash_module_is_the_function(dim):
    torch.manual_seed(0)
    s = torch.randn(2, 8, 5, requires_grad=True)
    module = Squash(dim=dim)
    out = module(s)
    torch.testing.assert_close(out, squash(s, dim=dim))
    # Squashed along `dim` only: lengths there are |s|^2 / (1 + |s|^2).
    n2 = s.detach().pow(2).sum(dim)
    torch.testing.assert_close(out.detach().norm(dim=dim), n2 / (1 + n2))
    out.sum().backward()
    assert torch.isfinite(s.grad).all()
    assert list(module.parameters()) == []
    assert repr(module) == f'Squash(dim={dim})'


def test_default_dim_is_last():
    s = torch.tensor([[3.0, 4.0]])
    torch.testing.assert_close(Squash()(s), s / 5 * 25 / 26)
