"""Log inputs next to their capsule reconstructions while training."""
from typing import Optional, Sequence, Union

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner
from mmpretrain.registry import HOOKS

from mmcaps.visualization import (capsule_outputs, reconstruct_top,
                                  reconstruction_figure,
                                  require_reconstruction, sample_labels)

__all__ = ['ReconstructionVisualizationHook']

PHASES = ('train', 'val', 'test')


@HOOKS.register_module()
class ReconstructionVisualizationHook(Hook):
    """Draw a batch's first samples beside the images decoded from their
    predicted class capsules, and log the grid with the runner's
    visualizer (``runner.visualizer.add_image``), so it reaches every
    configured vis backend: PNG files under ``vis_data/vis_image`` with
    ``LocalVisBackend``, image summaries with ``TensorboardVisBackend``.

    The figure is :func:`~mmcaps.visualization.reconstruction_figure` of
    the ``num_samples`` first samples (their true and predicted classes
    under each tile; with ``num_predictions=2``, MultiMNIST, the two
    reconstructions overlaid in red and green). The model runs in eval mode
    without gradients and with the data preprocessor in test mode (no random
    shift), on the main process only; training mode is restored after.

    When, and under which name (``LocalVisBackend`` writes
    ``{name}_{step}.png``):

    - ``'train'``: every ``interval`` training iterations, as
      ``train_reconstructions`` with the iteration count as the step;
    - ``'val'``, ``'test'``: in each validation/test run, batches 0,
      ``interval``, ``2 * interval``, ..., as
      ``val_reconstructions_batch{i}`` (``test_...``) with the training
      iterations done so far as the step.

    Args:
        interval: Training iterations, or validation/test batches, between
            two drawings.
        phases: Which of ``'train'``, ``'val'``, ``'test'`` to draw in.
        num_samples: Samples drawn from a batch (fewer if it is smaller).
        cols: Tiles per row.
        scale: Pixels per image pixel.
    """

    def __init__(self,
                 interval: int = 50,
                 phases: Union[str, Sequence[str]] = ('val', ),
                 num_samples: int = 8,
                 cols: int = 4,
                 scale: int = 2) -> None:
        for name, value in (('interval', interval), ('num_samples',
                                                     num_samples),
                            ('cols', cols), ('scale', scale)):
            if not isinstance(value, int) or value < 1:
                raise ValueError('ReconstructionVisualizationHook: '
                                 f'{name} must be a positive integer, got '
                                 f'{value!r}')
        phases = (phases, ) if isinstance(phases, str) else tuple(phases)
        if not phases or not set(phases) <= set(PHASES):
            raise ValueError('ReconstructionVisualizationHook: phases must '
                             f'be some of {PHASES}, got {phases!r}')
        self.interval = interval
        self.phases = phases
        self.num_samples = num_samples
        self.cols = cols
        self.scale = scale

    @staticmethod
    def _model(runner: Runner):
        model = runner.model
        return model.module if is_model_wrapper(model) else model

    def before_run(self, runner: Runner) -> None:
        require_reconstruction(
            self._model(runner), 'ReconstructionVisualizationHook')

    def after_train_iter(self,
                         runner: Runner,
                         batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        if 'train' in self.phases and self.every_n_train_iters(
                runner, self.interval):
            self._draw(runner, data_batch, 'train_reconstructions',
                       runner.iter + 1)

    def after_val_iter(self,
                       runner: Runner,
                       batch_idx: int,
                       data_batch: Optional[dict] = None,
                       outputs: Optional[Sequence] = None) -> None:
        self._after_eval_iter(runner, 'val', batch_idx, data_batch)

    def after_test_iter(self,
                        runner: Runner,
                        batch_idx: int,
                        data_batch: Optional[dict] = None,
                        outputs: Optional[Sequence] = None) -> None:
        self._after_eval_iter(runner, 'test', batch_idx, data_batch)

    def _after_eval_iter(self, runner: Runner, phase: str, batch_idx: int,
                         data_batch: Optional[dict]) -> None:
        if phase in self.phases and batch_idx % self.interval == 0:
            self._draw(runner, data_batch,
                       f'{phase}_reconstructions_batch{batch_idx}',
                       runner.iter)

    def _draw(self, runner: Runner, data_batch: Optional[dict], name: str,
              step: int) -> None:
        if data_batch is None or not is_main_process():
            return
        batch = {
            key: value[:self.num_samples]
            for key, value in data_batch.items()
        }
        model = self._model(runner)
        training = model.training
        model.eval()
        try:
            outputs = capsule_outputs(model, batch)
            preds, recons = reconstruct_top(
                model, outputs.capsules,
                getattr(model.head, 'num_predictions', 1))
        finally:
            model.train(training)
        figure = reconstruction_figure(outputs.images, recons,
                                       sample_labels(batch), preds.tolist(),
                                       self.cols, self.scale)
        runner.visualizer.add_image(name, figure, step)
