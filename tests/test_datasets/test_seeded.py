"""SeededDataset and ResumableSampler: each sample's random draws are a
function of (seed, epoch, index), whatever the workers."""
import random

import numpy as np
import pytest
import torch
from mmengine.dataset import DefaultSampler, pseudo_collate
from torch.utils.data import DataLoader, Dataset

from mmcaps.datasets import (InMemoryDataset, MNISTIdx, ResumableSampler,
                             SeededDataset, batched_collate, seed_everything)
from mmcaps.datasets.seeded import SAMPLE_STREAM


class RandomDraws(Dataset):
    """Sample ``i`` is ``i`` and one draw from each global generator."""

    metainfo = {'classes': ('a', 'b')}

    def __len__(self) -> int:
        return 10

    def __getitem__(self, index: int) -> tuple:
        return (index, random.random(), float(np.random.rand()),
                float(torch.rand(())))

    def get_data_info(self, index: int) -> dict:
        return dict(index=index)


def expected_draws(entropy) -> tuple:
    """The draws after seeding from ``entropy``, computed independently of
    ``seed_everything`` from its documented use of the SeedSequence words:
    numpy <- words 0-3, random <- words 4-5, torch <- words 6-7."""
    words = np.random.SeedSequence(entropy).generate_state(8)
    py = random.Random(int(words[4]) << 32 | int(words[5])).random()
    nps = float(np.random.RandomState(words[:4]).rand())
    gen = torch.Generator().manual_seed(int(words[6]) << 32 | int(words[7]))
    return py, nps, float(torch.rand((), generator=gen))


def test_seed_everything_matches_the_seed_sequence_words():
    seed_everything(4, 0, 2, 9)
    first = (random.random(), float(np.random.rand()), float(torch.rand(())))
    assert first == pytest.approx(expected_draws((4, 0, 2, 9)), abs=0)
    seed_everything(4, 0, 2, 10)
    assert random.random() != first[0]


def draws_by_key(num_workers: int, persistent: bool, epochs=(0, 1, 2)):
    """{(epoch, index): draws} over ``epochs`` of a shuffled loader."""
    dataset = SeededDataset(RandomDraws(), seed=3)
    sampler = ResumableSampler(DefaultSampler(dataset, shuffle=True, seed=0))
    loader = DataLoader(dataset, batch_size=3, sampler=sampler,
                        num_workers=num_workers, collate_fn=pseudo_collate,
                        persistent_workers=persistent)
    seen = {}
    for epoch in epochs:
        sampler.set_epoch(epoch)
        for batch in loader:
            for index, *draws in zip(*batch):
                seen[epoch, index] = tuple(draws)
    return seen


def test_draws_depend_only_on_seed_epoch_and_index():
    reference = draws_by_key(0, False)
    assert len(reference) == 30
    for (epoch, index), draws in reference.items():
        assert draws == pytest.approx(
            expected_draws((3, SAMPLE_STREAM, epoch, index)), abs=0)
    # Another epoch, other draws for the same sample.
    assert reference[0, 4] != reference[1, 4]
    assert draws_by_key(2, False) == reference
    # Persistent workers never see set_epoch: the epoch comes with the key.
    assert draws_by_key(2, True) == reference


def test_main_process_random_stream_is_left_alone():
    dataset = SeededDataset(RandomDraws(), seed=3)
    torch.manual_seed(0)
    np.random.seed(0)
    random.seed(0)
    expected = (torch.rand(()), np.random.rand(), random.random())
    torch.manual_seed(0)
    np.random.seed(0)
    random.seed(0)
    dataset[(1, 2)]
    dataset[5]
    assert (torch.rand(()), np.random.rand(), random.random()) == expected


def test_random_crop_pipeline_is_the_same_in_workers(tiny_mnist_root):
    # mmpretrain's RandomCrop draws from numpy's global generator.
    mnist = MNISTIdx(tiny_mnist_root, check_md5=False, pipeline=[
        dict(type='RandomCrop', crop_size=28, padding=2),
        dict(type='PackInputs')])
    dataset = SeededDataset(mnist, seed=1)
    keys = [(epoch, index) for epoch in (0, 1) for index in range(48)]
    loader = DataLoader(dataset, batch_size=16, sampler=keys, num_workers=2,
                        collate_fn=pseudo_collate)
    images = torch.cat([torch.stack(b['inputs']) for b in loader])
    expected = torch.stack([dataset[key]['inputs'] for key in keys])
    assert torch.equal(images, expected)
    # The crops are random: epochs 0 and 1 differ for most digits.
    assert (images[:48] != images[48:]).flatten(1).any(1).sum() > 40


class EpochRecorder(RandomDraws):

    def __init__(self) -> None:
        self.epochs = []

    def set_epoch(self, epoch: int) -> None:
        self.epochs.append(epoch)


def test_seeded_dataset_delegates_and_forwards_the_epoch():
    inner = EpochRecorder()
    dataset = SeededDataset(inner, seed=0)
    assert len(dataset) == 10 and dataset.metainfo == inner.metainfo
    assert dataset.get_data_info(3) == dict(index=3)
    for key in [(0, 1), (0, 2), (2, 1), (2, 0), 4]:
        dataset[key]
    # Once per change of epoch; a bare index is epoch 0.
    assert inner.epochs == [0, 2, 0]
    with pytest.raises(ValueError, match='seed must be a non-negative'):
        SeededDataset(inner, seed=-1)


def test_seeded_dataset_passes_whole_batches_on(tiny_mnist_root):
    inner = InMemoryDataset(MNISTIdx(tiny_mnist_root, check_md5=False))
    dataset = SeededDataset(inner, seed=0)
    batch = dataset.__getitems__([(1, 5), (1, 7)])
    assert torch.equal(batch['inputs'], inner.images[[5, 7]])
    loader = DataLoader(dataset, batch_size=4, collate_fn=batched_collate,
                        sampler=ResumableSampler(range(8)))
    assert torch.equal(next(iter(loader))['inputs'], inner.images[:4])
    with pytest.raises(ValueError, match='spans epochs'):
        dataset.__getitems__([(0, 1), (1, 2)])


class BatchDraws(RandomDraws):

    def __getitems__(self, indices):
        return [float(np.random.rand())]


def test_a_whole_batch_is_seeded_from_all_its_keys():
    dataset = SeededDataset(BatchDraws(), seed=2)
    assert dataset.__getitems__([(1, 5), (1, 7)]) == [
        expected_draws((2, SAMPLE_STREAM, 1, 5, 7))[1]]
