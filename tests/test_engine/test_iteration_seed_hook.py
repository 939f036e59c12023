"""IterationSeedHook: an iteration's random draws depend on the seed, the
iteration and the rank alone."""
import random
from types import SimpleNamespace

import numpy as np
import torch
from torch.utils.data import DataLoader

import mmcaps.engine.hooks.iteration_seed_hook as hook_module
from mmcaps.datasets import seed_everything
from mmcaps.datasets.seeded import ITERATION_STREAM
from mmcaps.engine import IterationSeedHook


def draws() -> tuple:
    return random.random(), float(np.random.rand()), float(torch.rand(()))


def test_draws_of_an_iteration_do_not_depend_on_what_came_before(
        monkeypatch):
    hook = IterationSeedHook()
    runner = SimpleNamespace(seed=5, iter=7)
    seed_everything(5, ITERATION_STREAM, 7, 0)
    expected = draws()
    torch.rand(100)  # what the run drew before: irrelevant
    hook.before_train_iter(runner, batch_idx=0)
    assert draws() == expected
    runner.iter = 8
    hook.before_train_iter(runner, batch_idx=1)
    assert draws() != expected
    runner.iter = 7
    monkeypatch.setattr(hook_module, 'get_dist_info', lambda: (1, 2))
    hook.before_train_iter(runner, batch_idx=0)
    assert draws() != expected  # another rank, other draws


def test_why_not_restore_generator_states_instead():
    # Each iter(dataloader) draws a base seed from the global torch
    # generator (at every epoch start, and in a resumed run once more at the
    # resume): a restored state would not line up with the uninterrupted
    # run's stream.
    torch.manual_seed(0)
    expected = torch.rand(())
    torch.manual_seed(0)
    iter(DataLoader(range(4)))
    assert torch.rand(()) != expected
