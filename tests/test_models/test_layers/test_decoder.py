import pytest
import torch

from mmcaps.models.layers import CapsuleDecoder


def test_decoder_sees_only_the_masked_capsule():
    torch.manual_seed(0)
    dec = CapsuleDecoder(10, 16, (1, 28, 28))
    caps = torch.randn(3, 10, 16)
    mask = torch.nn.functional.one_hot(torch.tensor([2, 5, 9]), 10).float()
    out = dec(caps, mask)
    assert out.shape == (3, 1, 28, 28)
    assert out.min() >= 0 and out.max() <= 1
    # Changing any other capsule does not change the output...
    other = caps.clone()
    other[0, 3] += 5
    other[1, 0] -= 2
    torch.testing.assert_close(dec(other, mask), out)
    # ...changing the selected one does.
    other[0, 2] += 1
    assert not torch.allclose(dec(other, mask)[0], out[0])
    # Equals the MLP applied to the hand-masked flattened capsules.
    flat = torch.zeros(3, 160)
    for b, k in enumerate([2, 5, 9]):
        flat[b, k * 16:(k + 1) * 16] = caps[b, k]
    torch.testing.assert_close(out.flatten(1), dec.mlp(flat))


def test_paper_decoder_params():
    dec = CapsuleDecoder()
    assert sum(p.numel() for p in dec.parameters()) == 1411344


def test_decoder_shape_errors():
    dec = CapsuleDecoder()
    with pytest.raises(ValueError, match='capsules'):
        dec(torch.zeros(2, 10, 8), torch.zeros(2, 10))
    with pytest.raises(ValueError, match='mask'):
        dec(torch.zeros(2, 10, 16), torch.zeros(2, 9))
