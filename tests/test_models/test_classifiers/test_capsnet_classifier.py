import re

import pytest
import torch
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import mmcaps  # noqa: F401
from mmcaps.models.utils import (CapsDataPreprocessor,
                                 RandomShiftDataPreprocessor)

BACKBONE = dict(type='CapsNet', conv1_channels=8, conv1_kernel=5,
                primary_types=2, primary_dim=4, primary_kernel=5,
                primary_stride=2)


def tiny_head(decoder=True):
    head = dict(type='DigitCapsHead', num_classes=3, in_capsules=2 * 4 * 4,
                in_dim=4, out_dim=4)
    if decoder:
        head['decoder'] = dict(type='CapsuleDecoder', out_shape=(1, 16, 16),
                               hidden_dims=(8, ))
    return head


def tiny_classifier(mean=None, std=None, preprocessor='CapsDataPreprocessor',
                    decoder=True):
    data_preprocessor = dict(mean=mean, std=std, to_rgb=False)
    if preprocessor is not None:
        data_preprocessor['type'] = preprocessor
    return MODELS.build(
        dict(type='CapsNetClassifier', data_preprocessor=data_preprocessor,
             backbone=BACKBONE, head=tiny_head(decoder)))


def test_reconstruction_target_is_raw_image_whatever_the_normalisation():
    torch.manual_seed(0)
    raw = torch.randint(0, 256, (2, 1, 16, 16)).float()
    data = dict(inputs=list(raw.to(torch.uint8)),
                data_samples=[DataSample().set_gt_label(i) for i in (0, 2)])
    for mean, std in (([0.], [255.]), ([33.3], [78.6])):
        model = tiny_classifier(mean, std)
        batch = model.data_preprocessor(data, training=True)
        inputs = batch['inputs']
        torch.testing.assert_close(model.raw_images(inputs), raw / 255.)
        seen = {}
        original = model.head.loss

        def spy(feats, data_samples, images=None):
            seen['images'] = images
            return original(feats, data_samples, images=images)

        model.head.loss = spy
        losses = model(**batch, mode='loss')
        torch.testing.assert_close(seen['images'], raw / 255.)
        assert set(losses) == {'loss_margin', 'loss_recon'}


def test_predict_mode():
    model = tiny_classifier([0.], [255.]).eval()
    out = model(torch.rand(3, 1, 16, 16), mode='predict')
    assert len(out) == 3 and out[0].pred_score.shape == (3, )
    scores = model.head.class_scores(model.extract_feat(
        torch.rand(3, 1, 16, 16)))
    assert scores.shape == (3, 3)


def test_data_preprocessor_defaults_to_caps_data_preprocessor():
    # No type, or no data preprocessor at all.
    model = tiny_classifier([10.], [20.], preprocessor=None)
    assert type(model.data_preprocessor) is CapsDataPreprocessor
    inputs = torch.full((1, 1, 16, 16), 0.5)
    torch.testing.assert_close(model.raw_images(inputs),
                               torch.full((1, 1, 16, 16), 20.0 / 255.))
    model = MODELS.build(dict(type='CapsNetClassifier', backbone=BACKBONE,
                              head=tiny_head()))
    assert type(model.data_preprocessor) is CapsDataPreprocessor
    # A subclass is a CapsDataPreprocessor too.
    model = tiny_classifier([0.], [255.],
                            preprocessor='RandomShiftDataPreprocessor')
    assert isinstance(model.data_preprocessor, RandomShiftDataPreprocessor)


def test_reconstructing_head_needs_caps_data_preprocessor():
    with pytest.raises(TypeError, match='^' + re.escape(
            'CapsNetClassifier: a reconstructing head needs the raw images, '
            'which only a CapsDataPreprocessor (or a subclass) can give back;'
            ' got data preprocessor ClsDataPreprocessor')):
        tiny_classifier([0.], [255.], preprocessor='ClsDataPreprocessor')
    # Without a decoder the raw images are not needed.
    model = tiny_classifier([0.], [255.], preprocessor='ClsDataPreprocessor',
                            decoder=False)
    data = dict(inputs=list(torch.randint(0, 256, (2, 1, 16, 16),
                                          dtype=torch.uint8)),
                data_samples=[DataSample().set_gt_label(i) for i in (0, 2)])
    losses = model(**model.data_preprocessor(data, True), mode='loss')
    assert set(losses) == {'loss_margin'}


def test_head_must_be_a_capsule_head():
    with pytest.raises(TypeError, match='^' + re.escape(
            'CapsNetClassifier needs a class-capsule head (a BaseCapsHead '
            'such as DigitCapsHead), got LinearClsHead; use ImageClassifier '
            'for other heads')):
        MODELS.build(
            dict(type='CapsNetClassifier', backbone=BACKBONE,
                 neck=dict(type='GlobalAveragePooling'),
                 head=dict(type='LinearClsHead', num_classes=3,
                           in_channels=8)))
