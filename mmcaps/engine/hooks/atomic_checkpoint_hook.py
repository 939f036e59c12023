"""A CheckpointHook whose files are never left half-written."""
import os
import os.path as osp
from typing import Optional

from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook
from mmengine.runner import EpochBasedTrainLoop, Runner
from mmpretrain.registry import HOOKS

from mmcaps.utils.fileio import atomic_path
from ..runner import ResumableEpochBasedTrainLoop

__all__ = ['AtomicCheckpointHook', 'atomic_path']


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """``CheckpointHook`` that cannot leave a truncated latest checkpoint.

    mmengine 0.10.7 saves a checkpoint by (1) deleting the oldest one kept
    under ``max_keep_ckpts``, (2) writing the new file in place and (3)
    rewriting ``last_checkpoint`` in place. A crash in (2) leaves a
    truncated file (and with ``max_keep_ckpts=1`` no complete one at all),
    one in (3) an empty pointer, and re-saving an existing name (after a
    new best score) truncates the very file ``last_checkpoint`` names.

    This hook writes the checkpoint and then ``last_checkpoint`` each to a
    temporary file renamed over the real one (see :func:`atomic_path`), and
    deletes the outdated checkpoint only afterwards, so a crash at any point
    leaves ``last_checkpoint`` naming a complete checkpoint that
    ``--resume`` loads. The arguments are ``CheckpointHook``'s; checkpoints
    written to a non-local file backend (chosen by ``backend_args`` or
    ``file_client_args``) or by a runner other than ``Runner`` are saved by
    ``CheckpointHook`` unchanged, and so are best-score checkpoints
    (``save_best``).

    It also warns when a run resumes in the middle of an epoch of an
    ``EpochBasedTrainLoop``, which restarts that epoch from its first
    batch (iteration checkpoints, ``by_epoch=False``, make such resumes);
    ``ResumableEpochBasedTrainLoop`` does not.
    """

    def before_train(self, runner: Runner) -> None:
        super().before_train(runner)
        loop = runner.train_loop
        if (not isinstance(loop, EpochBasedTrainLoop)
                or isinstance(loop, ResumableEpochBasedTrainLoop)):
            return
        done = runner.iter - runner.epoch * len(loop.dataloader)
        if done > 0:
            runner.logger.warning(
                f'Resumed at iteration {runner.iter}, {done} batches into '
                f'epoch {runner.epoch + 1}: EpochBasedTrainLoop restarts '
                f'the epoch from its first batch, so these {done} batches '
                'are trained again and the run ends '
                f'{done} iterations later than an uninterrupted one. Use '
                'ResumableEpochBasedTrainLoop to resume mid-epoch exactly.')

    def _save_checkpoint_with_step(self, runner: Runner, step: int,
                                   meta: dict) -> None:
        if not (isinstance(runner, Runner)
                and isinstance(self.file_backend, LocalBackend)):
            super()._save_checkpoint_with_step(runner, step, meta)
            return
        outdated = self._keep_step(runner, step)
        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = osp.join(self.out_dir, ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        # Runner.save_checkpoint writes on the main process only.
        if not is_main_process():
            return
        with atomic_path(self.last_ckpt) as tmp:
            runner.save_checkpoint(
                self.out_dir,
                osp.basename(tmp),
                save_optimizer=self.save_optimizer,
                save_param_scheduler=self.save_param_scheduler,
                meta=meta,
                by_epoch=self.by_epoch,
                backend_args=self.backend_args,
                **self.args)
        with atomic_path(osp.join(runner.work_dir, 'last_checkpoint')) as tmp:
            with open(tmp, 'w') as f:
                f.write(self.last_ckpt)
        if outdated is not None:
            path = osp.join(self.out_dir, self.filename_tmpl.format(outdated))
            if osp.isfile(path):
                os.remove(path)

    def _keep_step(self, runner: Runner, step: int) -> Optional[int]:
        """Record ``step`` among the kept checkpoints (in the message hub,
        so that the checkpoint being saved knows it) and return the step
        whose checkpoint falls out of ``max_keep_ckpts``, if any."""
        if self.max_keep_ckpts <= 0 or (self.keep_ckpt_ids
                                        and self.keep_ckpt_ids[-1] == step):
            return None
        outdated = None
        if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
            outdated = self.keep_ckpt_ids.popleft()
        self.keep_ckpt_ids.append(step)
        runner.message_hub.update_info('keep_ckpt_ids',
                                       list(self.keep_ckpt_ids))
        return outdated
