from mmengine.dataset import DefaultSampler

from mmcaps.datasets import ResumableSampler, samplers


def test_resumable_sampler_keys_and_start():
    sampler = ResumableSampler(
        dict(type='DefaultSampler', shuffle=True), dataset=range(10), seed=0)
    inner = DefaultSampler(range(10), shuffle=True, seed=0)
    for epoch in (0, 3):
        sampler.set_epoch(epoch)
        inner.set_epoch(epoch)
        order = list(inner)
        assert list(sampler) == [(epoch, i) for i in order]
        sampler.start = 4
        assert list(sampler) == [(epoch, i) for i in order[4:]]
        assert len(sampler) == 10  # a whole epoch, also when resumed
        sampler.start = 0
    assert list(iter(ResumableSampler(range(3)))) == [(0, 0), (0, 1), (0, 2)]


def test_resumable_sampler_lives_in_datasets_samplers():
    # mmpretrain's layout; mmcaps.datasets re-exports it.
    assert samplers.ResumableSampler is ResumableSampler
    assert ResumableSampler.__module__ == (
        'mmcaps.datasets.samplers.resumable_sampler')
