"""tools/model_converters/publish_model.py: a release checkpoint keeps the
weights and class names only, can leave out the decoder and still
predicts the same."""
import stat
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import REPO, write_tiny_config
from mmpretrain import ImageClassificationInferencer, get_model

import mmcaps
from mmcaps.apis import sha256sum

sys.path.insert(0, str(REPO / 'tools' / 'model_converters'))
from publish_model import publish, strip_checkpoint  # noqa: E402

sys.path.pop(0)


@pytest.fixture
def trained(tiny_mnist_root, tmp_path):
    config = write_tiny_config(tmp_path / 'tiny.py', tiny_mnist_root)
    torch.manual_seed(0)
    model = get_model(str(config))
    path = tmp_path / 'epoch_2.pth'
    torch.save({
        'state_dict': model.state_dict(),
        'optimizer': {'state': {}, 'param_groups': []},
        'param_schedulers': [{'last_epoch': 2}],
        'message_hub': {'log_scalars': {}},
        'meta': {'epoch': 2, 'iter': 6, 'cfg': "data_root='/dev/data'",
                 'seed': 1, 'mmengine_version': '0.10.7',
                 'dataset_meta': {'classes': [str(i) for i in range(10)]}},
    }, path)
    return config, path


def test_release_keeps_weights_and_class_names(trained, tmp_path):
    config, path = trained
    out = Path(publish(str(path), str(tmp_path / 'rel' / 'tiny.pth'),
                       date='20240102'))
    assert out.name == f'tiny_20240102-{sha256sum(out)[:8]}.pth'
    assert stat.S_IMODE(out.stat().st_mode) & 0o044  # readable by others
    release = torch.load(out, weights_only=True)
    assert set(release) == {'state_dict', 'meta'}
    assert release['meta'] == {
        'epoch': 2, 'iter': 6, 'mmengine_version': '0.10.7',
        'dataset_meta': {'classes': [str(i) for i in range(10)]},
        'mmcaps_version': mmcaps.__version__}
    original = torch.load(path, weights_only=True)['state_dict']
    assert release['state_dict'].keys() == original.keys()


def test_without_decoder_predicts_the_same(trained, tmp_path):
    config, path = trained
    full = Path(publish(str(path), str(tmp_path / 'full.pth')))
    lean = Path(publish(str(path), str(tmp_path / 'lean.pth'),
                        drop_decoder=True))
    keys = torch.load(lean, weights_only=True)['state_dict'].keys()
    assert keys and not [k for k in keys if k.startswith('head.decoder.')]
    assert lean.stat().st_size < full.stat().st_size
    image = np.random.default_rng(0).integers(0, 256, (28, 28), np.uint8)
    scores = [
        ImageClassificationInferencer(
            str(config), pretrained=str(ckpt))(image)[0]['pred_scores']
        for ckpt in (path, full, lean)]
    np.testing.assert_array_equal(scores[0], scores[1])
    np.testing.assert_array_equal(scores[0], scores[2])


def test_bad_checkpoints_are_errors():
    with pytest.raises(ValueError, match='not an mmengine checkpoint: no '
                       "state_dict \\(keys: \\['conv.weight'\\]\\)"):
        strip_checkpoint({'conv.weight': torch.zeros(1)})
    with pytest.raises(ValueError, match='--drop-decoder: the checkpoint has '
                       r'no head\.decoder\.\* weights'):
        strip_checkpoint({'state_dict': {'head.w': torch.zeros(1)}},
                         drop_decoder=True)
