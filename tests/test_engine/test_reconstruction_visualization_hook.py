"""ReconstructionVisualizationHook on a tiny Runner with LocalVisBackend."""
from types import SimpleNamespace

import cv2
import pytest
import torch.nn as nn
from conftest import build_tiny_runner
from mmengine.dataset import pseudo_collate
from mmengine.hooks import Hook

from mmcaps.engine.hooks import ReconstructionVisualizationHook
from mmcaps.visualization import (capsule_outputs, reconstruct_top,
                                  reconstruction_figure, sample_labels)

# 48 training images at batch 16: iterations 1-3; 20 test images at batch
# 8: validation batches 0-2 after iteration 3.
DRAW_EVERY_2 = '''
train_cfg = dict(max_epochs=1)
custom_hooks = [dict(type='ReconstructionVisualizationHook', interval=2,
                     phases=('train', 'val'), num_samples=3, cols=2,
                     scale=1)]
'''
# 3 samples in rows of 2 tiles (28x28 input | reconstruction), 4 px apart,
# 14 px captions.
EXPECTED_SIZE = (2 * (28 + 14 + 4) - 4, 2 * (2 * 28 + 4) - 4)


class TrainingModeProbe(Hook):
    """Records whether the model is in training mode after the other
    hooks of each training iteration."""

    def __init__(self) -> None:
        self.modes = []

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        self.modes.append(runner.model.training)


def test_pngs_reach_local_vis_backend(tmp_path, tiny_mnist_root):
    runner = build_tiny_runner(tmp_path, tiny_mnist_root, DRAW_EVERY_2)
    probe = TrainingModeProbe()
    runner.register_hook(probe, 'LOWEST')
    runner.train()
    assert probe.modes == [True, True, True]
    pngs = {p.name: p for p in tmp_path.glob('*/vis_data/vis_image/*.png')}
    assert sorted(pngs) == [
        'train_reconstructions_2.png', 'val_reconstructions_batch0_3.png',
        'val_reconstructions_batch2_3.png'
    ]
    images = {
        name: cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        for name, path in pngs.items()
    }
    for image in images.values():
        assert image.shape[:2] == EXPECTED_SIZE
    # The first validation batch's figure, recomputed with the final
    # weights (validation ran after the last training step).
    model = runner.model
    model.eval()
    dataset = runner.val_dataloader.dataset
    batch = pseudo_collate([dataset[i] for i in range(3)])
    out = capsule_outputs(model, batch)
    preds, recons = reconstruct_top(model, out.capsules, 1)
    expected = reconstruction_figure(out.images, recons,
                                     sample_labels(batch), preds.tolist(),
                                     cols=2, scale=1)
    assert (images['val_reconstructions_batch0_3.png'] == expected).all()


def test_bad_arguments_and_models():
    with pytest.raises(ValueError, match='interval must be a positive'):
        ReconstructionVisualizationHook(interval=0)
    with pytest.raises(ValueError, match='phases must be some of'):
        ReconstructionVisualizationHook(phases='eval')
    with pytest.raises(ValueError, match='ReconstructionVisualizationHook '
                       'needs a CapsNetClassifier'):
        ReconstructionVisualizationHook().before_run(
            SimpleNamespace(model=nn.Linear(1, 1)))
