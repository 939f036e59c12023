import pytest
import torch
from mmpretrain.structures import DataSample

import mmcaps  # noqa: F401
from mmcaps.models.heads import DigitCapsHead
from mmcaps.models.losses import MarginLoss
from mmcaps.models.utils import capsule_length


def make_head(decoder=True, **kwargs):
    cfg = dict(num_classes=4, in_capsules=12, in_dim=8, out_dim=6,
               routing=dict(type='DynamicRouting', num_iterations=2))
    if decoder:
        cfg['decoder'] = dict(type='CapsuleDecoder', out_shape=(1, 5, 5),
                              hidden_dims=(7, ))
    cfg.update(kwargs)
    return DigitCapsHead(**cfg)


def samples(labels):
    return [DataSample().set_gt_label(int(x)) for x in labels]


def test_paper_head_parameter_counts():
    head = DigitCapsHead(10, 1152, decoder=dict(type='CapsuleDecoder'))
    assert sum(p.numel() for p in head.parameters()) == 1474560 + 1411344
    head = DigitCapsHead(10, 1152)
    assert sum(p.numel() for p in head.parameters()) == 1474560


def test_predict_scores_are_lengths():
    torch.manual_seed(0)
    head = make_head()
    feats = (torch.rand(3, 12, 8), )
    caps = head(feats)
    out = head.predict(feats)
    lengths = caps.norm(dim=-1)
    for i, s in enumerate(out):
        torch.testing.assert_close(s.pred_score, lengths[i], atol=1e-6,
                                   rtol=1e-5)
        assert s.pred_label.item() == lengths[i].argmax().item()


def test_loss_values():
    torch.manual_seed(1)
    head = make_head()
    feats = (torch.rand(2, 12, 8), )
    images = torch.rand(2, 1, 5, 5)
    labels = torch.tensor([3, 1])
    losses = head.loss(feats, samples(labels), images=images)
    caps = head(feats)
    torch.testing.assert_close(losses['loss_margin'],
                               MarginLoss()(capsule_length(caps), labels))
    # The decoder sees the TRUE class's capsule in training.
    mask = torch.nn.functional.one_hot(labels, 4).float()
    recon = head.decoder(caps, mask)
    expected = 0.0005 * (recon - images).flatten(1).pow(2).sum(1).mean()
    torch.testing.assert_close(losses['loss_recon'], expected)
    sum(losses.values()).backward()
    assert all(torch.isfinite(p.grad).all() for p in head.parameters())


def test_loss_without_decoder_and_missing_images():
    head = make_head(decoder=False)
    losses = head.loss((torch.rand(2, 12, 8), ), samples([0, 1]))
    assert set(losses) == {'loss_margin'}
    with pytest.raises(ValueError, match='no images'):
        make_head().loss((torch.rand(2, 12, 8), ), samples([0, 1]))


@pytest.mark.parametrize('num_classes', [2, 10, 100])
def test_any_number_of_classes(num_classes):
    head = DigitCapsHead(num_classes, 12, out_dim=4)
    feats = (torch.rand(2, 12, 8), )
    assert head(feats).shape == (2, num_classes, 4)
    losses = head.loss(feats, samples([0, num_classes - 1]))
    losses['loss_margin'].backward()
    assert head.predict(feats)[0].pred_score.shape == (num_classes, )


def test_errors():
    with pytest.raises(ValueError, match=r'label 4 is outside'):
        make_head(decoder=False).loss((torch.rand(1, 12, 8), ), samples([4]))
    with pytest.raises(ValueError, match='num_classes'):
        DigitCapsHead(1, 12)
    with pytest.raises(ValueError, match='decoder takes 5 capsules'):
        DigitCapsHead(4, 12, decoder=dict(type='CapsuleDecoder',
                                          num_capsules=5))
    with pytest.raises(ValueError, match='Unknown routing type'):
        DigitCapsHead(4, 12, routing=dict(type='EMRoutingTypo'))
    with pytest.raises(RuntimeError, match='no decoder'):
        make_head(decoder=False).reconstruct(torch.rand(1, 4, 6),
                                             torch.tensor([0]))


def test_init_std_reaches_the_capsule_layer():
    torch.manual_seed(4)
    head = DigitCapsHead(10, 1152, init_std=0.01)
    assert head.capsules.init_std == 0.01
    w = head.capsules.weight
    # Truncated at 2 std: standard deviation 0.8796 * 0.01.
    assert w.abs().max() <= 0.02
    assert abs(w.std().item() / 0.008796 - 1) < 0.01
    # The default is the official code's 0.1.
    assert DigitCapsHead(10, 12).capsules.init_std == 0.1
    with pytest.raises(ValueError, match='init_std must be a positive '
                       'number, got 0'):
        DigitCapsHead(10, 12, init_std=0)


def test_with_reconstruction_says_whether_there_is_a_decoder():
    assert make_head().with_reconstruction is True
    assert make_head(decoder=False).with_reconstruction is False


def test_multimnist_head_parameter_count():
    # 3200 primary capsules of a 36x36 input; decoder 160-512-1024-1296.
    head = DigitCapsHead(10, 3200, num_predictions=2,
                         decoder=dict(type='CapsuleDecoder',
                                      out_shape=(1, 36, 36)))
    decoder = (160 * 512 + 512) + (512 * 1024 + 1024) + (1024 * 1296 + 1296)
    assert decoder == 1936144
    assert sum(p.numel() for p in head.parameters()) == 4096000 + decoder


def two_digit_samples(pairs, digits):
    return [
        DataSample(digit_images=d).set_gt_label(list(p))
        for p, d in zip(pairs, digits)
    ]


def test_two_digit_loss_by_hand():
    torch.manual_seed(2)
    head = make_head()
    feats = (torch.rand(2, 12, 8), )
    pairs = [(3, 1), (0, 2)]
    digits = torch.rand(2, 2, 1, 5, 5)
    images = torch.rand(2, 1, 5, 5)  # the overlay: not a target here
    losses = head.loss(feats, two_digit_samples(pairs, digits),
                       images=images)
    caps = head(feats)
    lengths = caps.norm(dim=-1)
    # Margin loss by hand: both digits present, the other two absent.
    margin = 0.
    for b, pair in enumerate(pairs):
        for k in range(4):
            if k in pair:
                margin += max(0., 0.9 - lengths[b, k].item())**2
            else:
                margin += 0.5 * max(0., lengths[b, k].item() - 0.1)**2
    assert losses['loss_margin'].item() == pytest.approx(margin / 2, 1e-5)
    # One decoder pass per digit, masking all but that digit's capsule,
    # target = that digit alone; summed over the two digits.
    recon = 0.
    for p in range(2):
        mask = torch.zeros(2, 4)
        for b, pair in enumerate(pairs):
            mask[b, pair[p]] = 1
        out = head.decoder(caps, mask)
        recon += 0.0005 * (out - digits[:, p]).flatten(1).pow(2).sum(
            1).mean()
    torch.testing.assert_close(losses['loss_recon'], recon)
    sum(losses.values()).backward()
    assert all(torch.isfinite(p.grad).all() for p in head.parameters())


def test_predict_top2():
    torch.manual_seed(3)
    head = make_head(num_predictions=2)
    feats = (torch.rand(3, 12, 8), )
    lengths = head(feats).norm(dim=-1)
    for s, length in zip(head.predict(feats), lengths):
        order = length.argsort(descending=True)
        assert s.pred_label.tolist() == order[:2].tolist()
    for bad in (0, 5, 1.5):
        with pytest.raises(ValueError, match='num_predictions'):
            make_head(num_predictions=bad)
