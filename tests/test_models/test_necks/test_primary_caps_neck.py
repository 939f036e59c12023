import pytest
import torch
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import mmcaps  # noqa: F401
from mmcaps.models.heads import DigitCapsHead
from mmcaps.models.necks import PrimaryCapsNeck

TINY_VIT = dict(embed_dims=32, num_layers=1, num_heads=2,
                feedforward_channels=64)
TINY_CONVNEXT = dict(depths=[1, 1, 1, 1], channels=[8, 16, 32, 64])


def test_neck_uses_last_feature_map():
    neck = PrimaryCapsNeck(in_channels=8, num_types=2, capsule_dim=4)
    a, b = torch.rand(1, 3, 9, 9), torch.rand(2, 8, 5, 5)
    out = neck((a, b))
    assert len(out) == 1 and out[0].shape == (2, 2 * 5 * 5, 4)
    torch.testing.assert_close(out[0], neck.primary_caps(b))


def test_neck_in_index_and_bare_tensor():
    neck = PrimaryCapsNeck(in_channels=3, num_types=2, capsule_dim=4,
                           in_index=0)
    a, b = torch.rand(2, 3, 6, 6), torch.rand(2, 8, 3, 3)
    torch.testing.assert_close(neck((a, b))[0], neck.primary_caps(a))
    torch.testing.assert_close(neck(a)[0], neck.primary_caps(a))


def test_capsule_count_and_parameters():
    # 32 types of 8-D capsules, 1x1 kernel, on a ResNet-50's last stage.
    neck = PrimaryCapsNeck(2048, in_size=(7, 7))
    assert neck.out_capsules == 32 * 7 * 7 == neck.num_capsules(7, 7)
    assert sum(p.numel() for p in neck.parameters()) == 2048 * 256 + 256
    assert PrimaryCapsNeck(2048).out_capsules is None
    # The grid of a strided, padded kernel.
    neck = PrimaryCapsNeck(16, num_types=4, kernel_size=3, stride=2,
                           padding=1, in_size=(8, 6))
    assert neck.out_capsules == 4 * 4 * 3
    assert neck(torch.rand(1, 16, 8, 6))[0].shape == (1, 48, 8)


# (backbone config, input shape, expected (C, H, W) of the map used)
BACKBONES = {
    'timm-features_only': (dict(
        type='TIMMBackbone', model_name='resnet18', in_channels=1,
        features_only=True, out_indices=(2, )), (1, 28, 28), (128, 4, 4)),
    'timm-unpooled-last-map': (dict(
        type='TIMMBackbone', model_name='resnet18', features_only=False,
        output_stride=8), (3, 32, 32), (512, 4, 4)),
    'timm-vit-features_only': (dict(
        type='TIMMBackbone', model_name='vit_tiny_patch16_224',
        features_only=True, img_size=32, patch_size=8, depth=2,
        out_indices=(1, )), (3, 32, 32), (192, 4, 4)),
    'mmpretrain-ResNet': (dict(type='ResNet', depth=18, out_indices=(3, )),
                          (3, 64, 64), (512, 2, 2)),
    'mmpretrain-ResNet_CIFAR': (dict(type='ResNet_CIFAR', depth=18),
                                (3, 32, 32), (512, 4, 4)),
    'mmpretrain-ConvNeXt': (dict(type='ConvNeXt', arch=TINY_CONVNEXT,
                                 gap_before_final_norm=False), (3, 64, 64),
                            (64, 2, 2)),
    'mmpretrain-ViT-featmap': (dict(type='VisionTransformer', arch=TINY_VIT,
                                    img_size=32, patch_size=8,
                                    out_type='featmap'), (3, 32, 32),
                               (32, 4, 4)),
}


@pytest.mark.parametrize('name', BACKBONES)
def test_capsule_head_on_backbone(name):
    """Backbone -> neck -> DigitCapsHead trains: the capsules are
    ``(B, T * H * W, D)`` for the backbone's ``(B, C, H, W)`` map."""
    backbone_cfg, input_shape, (c, h, w) = BACKBONES[name]
    torch.manual_seed(0)
    backbone = MODELS.build(backbone_cfg)
    neck = PrimaryCapsNeck(c, num_types=4, capsule_dim=8, in_size=(h, w))
    head = DigitCapsHead(3, neck.out_capsules, out_dim=4)
    caps, = neck(backbone(torch.rand(2, *input_shape)))
    assert caps.shape == (2, 4 * h * w, 8)
    assert (caps.norm(dim=-1) < 1).all()  # squashed
    losses = head.loss((caps, ), [DataSample().set_gt_label(i)
                                  for i in (0, 2)])
    losses['loss_margin'].backward()
    for module in (backbone, neck, head):
        assert all(p.grad is not None and torch.isfinite(p.grad).all()
                   for p in module.parameters() if p.requires_grad)


def test_wrong_channels_says_what_to_set():
    neck = PrimaryCapsNeck(in_channels=256, in_size=(4, 4))
    with pytest.raises(ValueError, match=r'in_channels=512'):
        neck((torch.rand(1, 512, 4, 4), ))


def test_wrong_grid_says_what_to_set():
    # Configured for 32x32 CIFAR images through a stride-8 trunk, fed 64x64.
    neck = PrimaryCapsNeck(in_channels=16, num_types=32, in_size=(4, 4))
    with pytest.raises(ValueError) as err:
        neck((torch.rand(1, 16, 8, 8), ))
    msg = str(err.value)
    assert 'configured for 4x4' in msg and '512 capsules' in msg
    assert 'in_size=(8, 8)' in msg and f'in_capsules={32 * 8 * 8}' in msg


def test_map_smaller_than_kernel():
    with pytest.raises(ValueError, match='smaller than the 3x3 kernel'):
        PrimaryCapsNeck(8, kernel_size=3, in_size=(2, 2))
    neck = PrimaryCapsNeck(8, kernel_size=3)
    with pytest.raises(ValueError, match='earlier backbone stage'):
        neck((torch.rand(1, 8, 1, 1), ))


@pytest.mark.parametrize('in_size', [(4, ), (0, 4), (4, 4, 4)])
def test_bad_in_size(in_size):
    with pytest.raises(ValueError, match='in_size must be'):
        PrimaryCapsNeck(8, in_size=in_size)


def test_pooled_features_are_refused():
    # ConvNeXt pools by default.
    backbone = MODELS.build(dict(type='ConvNeXt', arch=TINY_CONVNEXT))
    neck = PrimaryCapsNeck(64)
    with pytest.raises(ValueError, match='gap_before_final_norm=False'):
        neck(backbone(torch.rand(1, 3, 64, 64)))


def test_token_sequence_is_refused():
    backbone = MODELS.build(
        dict(type='VisionTransformer', arch=TINY_VIT, img_size=32,
             patch_size=8, out_type='raw'))
    neck = PrimaryCapsNeck(32)
    with pytest.raises(ValueError, match="out_type='featmap'"):
        neck(backbone(torch.rand(1, 3, 32, 32)))
