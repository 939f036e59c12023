"""Stop training at the first NaN or infinite loss."""
from typing import Optional

import torch
from mmengine.dist import all_reduce, get_dist_info
from mmengine.hooks import Hook
from mmengine.runner import Runner
from mmpretrain.registry import HOOKS

__all__ = ['FiniteLossHook']


@HOOKS.register_module()
class FiniteLossHook(Hook):
    """Raise ``FloatingPointError`` at the first iteration whose loss is NaN
    or infinite, naming the iteration and every loss term.

    By then the optimiser has already stepped with the non-finite
    gradients, so the weights are spoilt: the hook runs before every other
    hook of the iteration (``HIGHEST`` priority), in particular before
    ``CheckpointHook`` (``VERY_LOW``), so that no checkpoint of the spoilt
    weights is written and the last checkpoint on disk is still good to
    resume from with a smaller learning rate.

    In distributed runs all ranks agree (one all-reduce of a flag per
    iteration) and stop together, instead of the ranks with a finite loss
    waiting for the others until the collective times out.

    The checked terms are the ``outputs`` of ``train_step`` (the parsed log
    variables) whose name contains ``'loss'``, as in mmengine's
    ``parse_losses``.
    """

    priority = 'HIGHEST'

    def after_train_iter(self,
                         runner: Runner,
                         batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        losses = {
            name: torch.as_tensor(value).detach()
            for name, value in (outputs or {}).items() if 'loss' in name
        }
        local_bad = not all(v.isfinite().all() for v in losses.values())
        bad = torch.tensor(float(local_bad))
        rank, world_size = get_dist_info()
        if world_size > 1:
            all_reduce(bad)
        if bad.item() == 0:
            return
        terms = ', '.join(
            f'{name}={value.float().mean().item():.6g}'
            for name, value in losses.items())
        if world_size == 1:
            where = ''
        elif local_bad:
            where = f' on rank {rank}'
        else:
            where = f' on another rank (rank {rank} had finite losses)'
        raise FloatingPointError(
            f'Non-finite loss at iteration {runner.iter + 1} (epoch '
            f'{runner.epoch + 1}){where}: {terms}. Training stopped before '
            'this iteration was checkpointed; resume from the last '
            'checkpoint with a lower learning rate, or check the data and '
            'the model for the cause.')
