from mmcaps.datasets import LazySampler, samplers


def test_lazy_sampler_is_a_permutation_split_over_ranks(monkeypatch):
    sampler = LazySampler(range(10), shuffle=True, seed=0)
    orders = []
    for epoch in range(3):
        sampler.set_epoch(epoch)
        orders.append(list(sampler))
        assert sorted(orders[-1]) == list(range(10))
    assert len({tuple(o) for o in orders}) > 1
    assert list(LazySampler(range(4), shuffle=False)) == [0, 1, 2, 3]
    monkeypatch.setattr('mmcaps.datasets.samplers.lazy_sampler.get_dist_info',
                        lambda: (1, 3))
    ranked = LazySampler(range(10), shuffle=False, seed=0)
    assert len(ranked) == 4 and list(ranked) == [1, 4, 7, 0]


def test_lazy_sampler_lives_in_datasets_samplers():
    # mmpretrain's layout; mmcaps.datasets re-exports it.
    assert samplers.LazySampler is LazySampler
    assert LazySampler.__module__ == 'mmcaps.datasets.samplers.lazy_sampler'
