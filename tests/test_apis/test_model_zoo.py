"""The model index: every config is a model of mmpretrain's ModelHub, the
metafiles hold measured numbers only, and shipped weights resolve from the
package (tested on a tiny checkpoint published into a temporary folder)."""
import re
import sys
import uuid
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml
from conftest import write_tiny_config
from mmpretrain import get_model, inference_model, list_models
from mmpretrain.apis import ModelHub

import mmcaps
from mmcaps.apis import find_model_index, register_model_index, sha256sum

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted(p for p in (REPO / 'configs').rglob('*.py')
                 if '_base_' not in p.parts)
METAFILES = sorted((REPO / 'configs').glob('*/metafile.yml'))
ENTRIES = [(path, model) for path in METAFILES
           for model in yaml.safe_load(path.read_text())['Models']]
MEASURED = [(path, model) for path, model in ENTRIES
            if any(result['Metrics'] for result in model['Results'])]
PUBLISH = REPO / 'tools' / 'model_converters'


def test_model_index_imports_every_metafile():
    index = yaml.safe_load((REPO / 'model-index.yml').read_text())
    assert index['Import'] == [
        str(p.relative_to(REPO)) for p in METAFILES]
    assert find_model_index() == REPO / 'model-index.yml'


def test_every_config_is_one_entry_named_after_it():
    configs = {str(p.relative_to(REPO)) for p in CONFIGS}
    assert sorted(m['Config'] for _, m in ENTRIES) == sorted(configs)
    for path, model in ENTRIES:
        assert model['Name'] == Path(model['Config']).stem
        assert Path(model['Config']).parent == path.parent.relative_to(REPO)


def test_list_models_lists_every_config():
    names = {p.stem for p in CONFIGS}
    # mmpretrain registers its own models on the first call: no clash.
    assert names <= set(list_models())
    assert set(mmcaps.apis.list_models()) == names
    assert set(list_models('*caps*')) >= {n for n in names if 'caps' in n}
    assert set(list_models('cnn-baseline')) == {
        n for n in names if n.startswith('cnn-baseline')}


@pytest.mark.parametrize('path,model', ENTRIES,
                         ids=[m['Name'] for _, m in ENTRIES])
def test_entry_schema_and_measured_results(path, model):
    """mmpretrain's schema; a Results entry for the inferencers' task;
    every number in Results is in the model's README (measured, with its
    budget); paper numbers stay in the README."""
    assert set(model) <= {'Name', 'In Collection', 'Config', 'Metadata',
                          'Results', 'Weights'}
    metadata = model['Metadata']
    assert isinstance(metadata['Parameters'], int)
    assert isinstance(metadata['FLOPs'], int)
    assert {'Training Data', 'Epochs', 'Batch Size'} <= set(metadata)
    readme = (path.parent / 'README.md').read_text()
    assert model['Results'], 'inference_model needs a task'
    for result in model['Results']:
        assert result['Task'] == 'Image Classification'
        assert result['Dataset']
        for metric, value in result['Metrics'].items():
            assert 'paper' not in metric.lower()
            assert f'{value:.2f}' in readme or f'{value}' in readme, (
                metric, value)
        if result['Metrics']:
            assert 'Training Resources' in metadata, 'the budget measured'


def _logged_metrics(log: Path) -> list:
    """Every ``name: value`` an mmengine evaluation line of ``log`` has."""
    return [float(value) for line in log.read_text().splitlines()
            if 'Epoch(val)' in line or 'Epoch(test)' in line
            for value in re.findall(r'[\w/]+: (\d+\.\d+)', line)]


@pytest.mark.parametrize('path,model', MEASURED,
                         ids=[m['Name'] for _, m in MEASURED])
def test_every_result_is_in_a_log_its_readme_row_links(path, model):
    """A metafile number is the (rounded) value of an evaluation in a log
    that the model's row of its README links: a typo or a number without a
    run behind it fails."""
    rows = [row for row in (path.parent / 'README.md').read_text()
            .splitlines() if row.startswith('|')
            and (row.split('|')[1].strip() == model['Name']
                 or f'[{model["Name"]}]' in row)]
    logs = [path.parent / link for row in rows
            for link in re.findall(r'\]\((logs/[^)]+\.log)\)', row)]
    assert logs, f'no log linked from the README row of {model["Name"]}'
    logged = [v for log in logs for v in _logged_metrics(log)]
    for result in model['Results']:
        for metric, value in result['Metrics'].items():
            assert any(abs(v - value) <= 0.005 + 1e-9 for v in logged), (
                metric, value, [str(log.name) for log in logs])


def test_get_model_builds_by_name():
    model = get_model('capsnet_r3-recon_1xb32-1e_mnist')
    assert sum(p.numel() for p in model.parameters()) == 8215568
    assert model._dataset_meta['classes'][3].startswith('3')


def test_pretrained_true_without_weights_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="'capsnet_r1_1xb128_mnist' has no "
                       'trained weights: train it with tools/train.py'):
        get_model('capsnet_r1_1xb128_mnist', pretrained=True)
    # The inferencers load weights by default: an error, not random ones.
    image = tmp_path / 'digit.png'
    cv2.imwrite(str(image), np.zeros((28, 28), np.uint8))
    with pytest.raises(ValueError, match='has no trained weights'):
        inference_model('capsnet_r1_1xb128_mnist', str(image))


@pytest.fixture
def tiny_zoo(request, tiny_mnist_root, tmp_path):
    """A model index of one tiny CapsNet whose training checkpoint is
    published into ``tmp_path/checkpoints`` with publish_model.py (without
    its decoder when the test's indirect parameter is True)."""
    sys.path.insert(0, str(PUBLISH))
    try:
        from publish_model import publish
    finally:
        sys.path.remove(str(PUBLISH))
    config = write_tiny_config(tmp_path / 'tiny.py', tiny_mnist_root)
    torch.manual_seed(0)
    model = get_model(str(config))
    train_ckpt = tmp_path / 'epoch_1.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {'epoch': 1},
                'optimizer': {'state': {}}}, train_ckpt)
    published = Path(publish(str(train_ckpt),
                             str(tmp_path / 'checkpoints' / 'tiny.pth'),
                             drop_decoder=getattr(request, 'param', False)))
    name = f'tiny-capsnet-{uuid.uuid4().hex[:8]}'
    (tmp_path / 'metafile.yml').write_text(yaml.safe_dump({'Models': [{
        'Name': name, 'Config': 'tiny.py',
        'Metadata': {'Weights SHA-256': sha256sum(published)},
        'Results': [{'Task': 'Image Classification', 'Dataset': 'MNIST',
                     'Metrics': {}}],
        'Weights': f'mmcaps/checkpoints/{published.name}'}]}))
    (tmp_path / 'model-index.yml').write_text(
        yaml.safe_dump({'Import': ['metafile.yml']}))
    names = register_model_index(tmp_path / 'model-index.yml',
                                 checkpoint_root=tmp_path / 'checkpoints')
    yield name, model, published
    for registered in names:
        ModelHub._models_dict.pop(registered)


def test_shipped_checkpoint_resolves_from_the_package(tiny_zoo):
    name, trained, published = tiny_zoo
    assert re.fullmatch(r'tiny_\d{8}-[0-9a-f]{8}\.pth', published.name)
    assert published.name[-12:-4] == sha256sum(published)[:8]
    model = get_model(name, pretrained=True)
    for key, value in trained.state_dict().items():
        torch.testing.assert_close(model.state_dict()[key], value, msg=key)


@pytest.mark.parametrize('tiny_zoo', [True], indirect=True)
def test_shipped_checkpoint_without_decoder_builds_without_one(tiny_zoo):
    name, trained, _ = tiny_zoo
    model = get_model(name, pretrained=True)
    assert model.head.decoder is None
    assert model._config.model.head.decoder is None
    kept = {key: value for key, value in trained.state_dict().items()
            if not key.startswith('head.decoder.')}
    assert len(kept) < len(trained.state_dict())
    assert model.state_dict().keys() == kept.keys()
    for key, value in kept.items():
        torch.testing.assert_close(model.state_dict()[key], value, msg=key)
    # Without the weights the model keeps its decoder: training needs it,
    # and the index's config is not changed by the pretrained build.
    assert get_model(name).head.decoder is not None


def test_damaged_or_missing_shipped_checkpoint_is_an_error(tiny_zoo):
    name, _, published = tiny_zoo
    data = bytearray(published.read_bytes())
    data[-100] ^= 0xFF
    published.write_bytes(bytes(data))
    with pytest.raises(ValueError, match='does not have the SHA-256 of its '
                       'metafile'):
        get_model(name, pretrained=True)
    published.unlink()
    with pytest.raises(FileNotFoundError, match='missing from the installed '
                       'package'):
        get_model(name, pretrained=True)


def test_unshipped_large_checkpoint_says_how_to_get_it(tiny_zoo):
    name, _, _ = tiny_zoo
    ModelHub._models_dict[name].weights = None
    with pytest.raises(ValueError, match='too large to ship with the '
                       'package; reproduce it with the command in'):
        get_model(name, pretrained=True)
