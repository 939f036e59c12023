"""mmcaps.visualization.inference on a tiny CapsNet checkpoint (72 4-D
primary capsules on a 2 x 6 x 6 grid, 10 4-D class capsules)."""
import numpy as np
import pytest
import torch
from conftest import write_tiny_config
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS

from mmcaps.models.utils import capsule_length
from mmcaps.visualization import (capsule_outputs, load_model, load_samples,
                                  perturbation_values,
                                  perturbed_reconstructions, reconstruct_top,
                                  require_reconstruction, sample_labels)


@pytest.fixture(scope='module')
def tiny(tmp_path_factory, tiny_mnist_root):
    """(config, checkpoint path, state dict) of a random tiny CapsNet."""
    folder = tmp_path_factory.mktemp('tiny_vis')
    cfg = Config.fromfile(
        write_tiny_config(folder / 'tiny.py', tiny_mnist_root))
    init_default_scope('mmpretrain')
    torch.manual_seed(0)
    state = MODELS.build(cfg.model).state_dict()
    checkpoint = folder / 'tiny.pth'
    torch.save(dict(state_dict=state), checkpoint)
    return cfg, str(checkpoint), state


@pytest.fixture(scope='module')
def model(tiny):
    cfg, checkpoint, _ = tiny
    return load_model(cfg, checkpoint)


def test_load_model_and_samples(tiny, model):
    cfg, _, state = tiny
    assert not model.training
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value, state[name], rtol=0, atol=0)
    batch = load_samples(model._config, 18, 5)  # the test set has 20
    assert len(batch['inputs']) == 2
    assert sample_labels(batch) == [[8], [9]]
    with pytest.raises(ValueError, match='outside the test set of 20'):
        load_samples(cfg, 20, 1)
    with pytest.raises(ValueError, match='num must be'):
        load_samples(cfg, 0, 0)
    loaded = load_model(cfg, tiny[1], cfg_options={'model.pixel_max': 1.})
    assert loaded.pixel_max == 1. and loaded._config.model.pixel_max == 1.


def test_require_reconstruction(tiny):
    cfg = tiny[0].copy()
    cfg.model.head.decoder = None
    with pytest.raises(ValueError, match='vis_x needs a CapsNetClassifier'):
        require_reconstruction(MODELS.build(cfg.model), 'vis_x')
    with pytest.raises(ValueError, match='with head NoneType'):
        require_reconstruction(torch.nn.Linear(1, 1), 'vis_x')


def test_capsule_outputs(model):
    batch = load_samples(model._config, 0, 3)
    out = capsule_outputs(model, batch, return_coupling=True)
    assert out.grid == (2, 6, 6)
    raw = torch.stack(batch['inputs']).float() / 255
    torch.testing.assert_close(out.images, raw)
    with torch.no_grad():
        feats = model.extract_feat(model.data_preprocessor(batch)['inputs'])
        torch.testing.assert_close(out.primary, feats[-1])
        torch.testing.assert_close(out.capsules, model.head(feats))
        _, coupling = model.head.capsules(feats[-1], return_coupling=True)
    assert out.coupling.shape == (3, 10, 72)
    torch.testing.assert_close(out.coupling, coupling)
    # Softmax over the classes: each input capsule's shares sum to 1.
    torch.testing.assert_close(out.coupling.sum(1), torch.ones(3, 72))
    assert capsule_outputs(model, batch).coupling is None


def test_reconstruct_top(model):
    out = capsule_outputs(model, load_samples(model._config, 0, 4))
    preds, recons = reconstruct_top(model, out.capsules, 2)
    assert recons.shape == (4, 2, 1, 28, 28)
    lengths = capsule_length(out.capsules)
    for b in range(4):
        order = sorted(range(10), key=lambda k: -lengths[b, k].item())
        assert preds[b].tolist() == order[:2]
        for p in range(2):
            mask = torch.zeros(1, 10)
            mask[0, order[p]] = 1
            with torch.no_grad():
                expected = model.head.decoder(out.capsules[b:b + 1], mask)
            torch.testing.assert_close(recons[b, p], expected[0])
    with pytest.raises(ValueError, match=r'num must be an integer in \[1, '):
        reconstruct_top(model, out.capsules, 11)


def test_perturbation_values():
    np.testing.assert_allclose(
        perturbation_values(0.25, 0.05),
        [-0.25, -0.2, -0.15, -0.1, -0.05, 0., 0.05, 0.1, 0.15, 0.2, 0.25],
        atol=1e-12)
    np.testing.assert_allclose(perturbation_values(1., 1.), [-1., 0., 1.])
    with pytest.raises(ValueError, match='whole number of steps'):
        perturbation_values(0.25, 0.1)
    with pytest.raises(ValueError, match='must be positive'):
        perturbation_values(0.25, -0.05)


def test_perturbed_reconstructions(model):
    capsules = capsule_outputs(model, load_samples(model._config, 0,
                                                   1)).capsules[0]
    values = [-0.25, 0., 0.5]
    label = 3
    out = perturbed_reconstructions(model, capsules, label, values)
    assert out.shape == (4, 3, 1, 28, 28)
    with torch.no_grad():
        plain = model.head.reconstruct(capsules[None], torch.tensor([label]))
        for d in range(4):
            # A shift of 0 reproduces the plain reconstruction.
            torch.testing.assert_close(out[d, 1], plain[0])
            for s, value in enumerate(values):
                shifted = capsules.clone()
                shifted[label, d] += value
                expected = model.head.reconstruct(shifted[None],
                                                  torch.tensor([label]))
                torch.testing.assert_close(out[d, s], expected[0])
    assert not torch.equal(out[0, 0], out[0, 1])
