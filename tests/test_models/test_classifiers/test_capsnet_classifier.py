import torch
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import mmcaps  # noqa: F401


def tiny_classifier(mean, std):
    return MODELS.build(
        dict(
            type='CapsNetClassifier',
            data_preprocessor=dict(
                type='ClsDataPreprocessor', mean=mean, std=std,
                to_rgb=False),
            backbone=dict(type='CapsNet', conv1_channels=8, conv1_kernel=5,
                          primary_types=2, primary_dim=4, primary_kernel=5,
                          primary_stride=2),
            head=dict(type='DigitCapsHead', num_classes=3, in_capsules=2 * 4
                      * 4, in_dim=4, out_dim=4,
                      decoder=dict(type='CapsuleDecoder',
                                   out_shape=(1, 16, 16), hidden_dims=(8, )))))


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
