"""ResumableEpochBasedTrainLoop: a resumed epoch feeds exactly the batches
an uninterrupted one had left, without loading the others (a stand-in
runner and model, no training)."""
from types import SimpleNamespace

import numpy as np
import pytest
from mmengine.dataset import DefaultSampler, pseudo_collate
from mmengine.logging import MMLogger
from mmengine.runner import Runner
from torch.utils.data import BatchSampler, DataLoader, Dataset

from mmcaps.datasets import ResumableSampler, SeededDataset
from mmcaps.engine import ResumableEpochBasedTrainLoop


class Digits(Dataset):
    """Ten samples: each its index and a draw from numpy's generator; the
    indices loaded are recorded."""

    metainfo = {'classes': tuple('0123456789')}

    def __init__(self) -> None:
        self.loaded = []

    def __len__(self) -> int:
        return 10

    def __getitem__(self, index: int) -> dict:
        self.loaded.append(index)
        return dict(index=index, draw=float(np.random.rand()))


class Model:
    """Records the batches it is trained on."""

    def __init__(self) -> None:
        self.batches = []

    def train(self) -> None:
        pass

    def train_step(self, data_batch: dict, optim_wrapper) -> dict:
        self.batches.append(data_batch)
        return {}


def stand_in_runner() -> SimpleNamespace:
    runner = SimpleNamespace(
        seed=3, _randomness_cfg={}, build_dataloader=Runner.build_dataloader,
        visualizer=SimpleNamespace(), model=Model(), optim_wrapper=None,
        val_loop=None, logger=MMLogger.get_instance('test_loops'), hooks=[])
    runner.call_hook = lambda name, **kwargs: runner.hooks.append(
        (name, kwargs.get('batch_idx')))
    return runner


# 10 samples in batches of 3: 4 batches an epoch, the last of one sample.
LOADER = dict(dataset=Digits(), sampler=dict(type='DefaultSampler'),
              batch_size=3, num_workers=0)


def run(epoch: int = 0, iteration: int = 0, dataloader=LOADER):
    """Train 2 epochs from (``epoch``, ``iteration``), as ``Runner.resume``
    sets them; return the loop and the runner."""
    runner = stand_in_runner()
    loop = ResumableEpochBasedTrainLoop(runner, dataloader, max_epochs=2)
    loop._epoch, loop._iter = epoch, iteration
    loop.run()
    return loop, runner


@pytest.fixture(scope='module')
def uninterrupted():
    return run()


def test_config_is_wrapped(uninterrupted):
    loop, runner = uninterrupted
    dataset, sampler = loop.dataloader.dataset, loop.dataloader.sampler
    assert isinstance(dataset, SeededDataset) and dataset.seed == 3
    assert isinstance(sampler, ResumableSampler)
    assert isinstance(sampler.sampler, DefaultSampler)
    assert sampler.sampler.shuffle and sampler.sampler.seed == 3
    assert runner.visualizer.dataset_meta == Digits.metainfo
    # Each epoch in the sampler's order: a permutation each, not the same.
    batches = runner.model.batches
    assert len(batches) == 8 and loop.iter == 8 and loop.epoch == 2
    orders = [sum((b['index'] for b in batches[e * 4:e * 4 + 4]), [])
              for e in (0, 1)]
    for epoch, order in enumerate(orders):
        inner = DefaultSampler(range(10), shuffle=True, seed=3)
        inner.set_epoch(epoch)
        assert order == list(inner)
    assert orders[0] != orders[1]
    # Already wrapped: kept as configured.
    loop = ResumableEpochBasedTrainLoop(
        stand_in_runner(),
        dict(LOADER,
             dataset=dict(type='mmpretrain.SeededDataset', dataset=Digits(),
                          seed=7),
             sampler=dict(type='mmpretrain.ResumableSampler',
                          sampler=dict(type='DefaultSampler'))),
        max_epochs=1)
    assert loop.dataloader.dataset.seed == 7
    assert isinstance(loop.dataloader.dataset.dataset, Digits)
    assert isinstance(loop.dataloader.sampler.sampler, DefaultSampler)


def test_mid_epoch_resume_feeds_and_loads_only_the_rest(uninterrupted):
    expected = uninterrupted[1].model.batches
    # Resumed 2 batches into epoch 2 (iteration 4 + 2).
    loop, runner = run(epoch=1, iteration=6)
    assert runner.model.batches == expected[6:]  # same indices, same draws
    assert loop.iter == 8 and loop.epoch == 2
    assert loop.dataloader.dataset.dataset.loaded == sum(
        (b['index'] for b in expected[6:]), [])
    # The hooks see the batches' positions in the epoch.
    assert [i for name, i in runner.hooks if name == 'before_train_iter'
            ] == [2, 3]
    assert loop.sampler.start == 0  # the next epoch starts at its start


def test_resume_after_the_last_batch_runs_only_the_epoch_end(uninterrupted):
    expected = uninterrupted[1].model.batches
    # An iteration checkpoint of the epoch's last batch: epoch 0, iter 4.
    loop, runner = run(epoch=0, iteration=4)
    assert runner.model.batches == expected[4:]
    assert [name for name, _ in runner.hooks][:3] == [
        'before_train', 'before_train_epoch', 'after_train_epoch']


def test_bad_resumes_and_dataloaders():
    with pytest.raises(ValueError, match='another batch size'):
        run(epoch=1, iteration=9)
    seeded = SeededDataset(Digits())
    custom = DataLoader(
        seeded, collate_fn=pseudo_collate,
        batch_sampler=BatchSampler(ResumableSampler(range(10)), 3, False))
    run(epoch=1, iteration=4, dataloader=custom)  # epoch starts: fine
    with pytest.raises(ValueError, match='custom batch_sampler'):
        run(epoch=1, iteration=5, dataloader=custom)
    with pytest.raises(ValueError, match='needs a ResumableSampler'):
        run(dataloader=DataLoader(seeded, batch_size=3))
