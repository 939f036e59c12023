import numpy as np
import torch
from conftest import build_tiny_runner
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

from mmcaps.datasets import InMemoryDataset, MNISTIdx
from mmcaps.models.utils import RandomShiftDataPreprocessor


def test_in_memory_holds_the_same_images(tiny_mnist_root):
    inner = MNISTIdx(str(tiny_mnist_root), split='test', check_md5=False)
    ds = InMemoryDataset(inner)
    assert len(ds) == len(inner) == 20
    assert ds.images.shape == (20, 1, 28, 28)
    assert ds.images.dtype == torch.uint8
    for i in (0, 7, 19):
        info = inner.get_data_info(i)
        np.testing.assert_array_equal(ds.images[i, 0].numpy(), info['img'])
        assert ds[i]['data_samples'].gt_label.item() == info['gt_label']
    batch = ds.__getitems__([3, 1, 3])
    torch.testing.assert_close(batch['inputs'], ds.images[[3, 1, 3]])
    assert [s.gt_label.item() for s in batch['data_samples']] == [
        int(inner.get_data_info(i)['gt_label']) for i in (3, 1, 3)
    ]
    assert ds.metainfo == inner.metainfo


def test_in_memory_loader_gives_the_pipeline_batches(tiny_mnist_root):
    """Batch-wise loading gives the same preprocessed batches as the
    per-sample pipeline."""
    init_default_scope('mmpretrain')
    inner = dict(type='MNISTIdx', data_root=str(tiny_mnist_root),
                 split='train', check_md5=False)
    common = dict(batch_size=16, num_workers=0,
                  sampler=dict(type='DefaultSampler', shuffle=True, seed=5))
    fast = Runner.build_dataloader(
        dict(common, collate_fn=dict(type='batched_collate'),
             dataset=dict(type='InMemoryDataset', dataset=inner)))
    slow = Runner.build_dataloader(
        dict(common,
             dataset=dict(inner, pipeline=[dict(type='PackInputs')])))
    pre = RandomShiftDataPreprocessor(random_shift=0, mean=[0.], std=[255.])
    n = 0
    for a, b in zip(fast, slow):
        a, b = pre(a), pre(b)
        torch.testing.assert_close(a['inputs'], b['inputs'])
        assert [s.gt_label.item() for s in a['data_samples']] == [
            s.gt_label.item() for s in b['data_samples']]
        n += a['inputs'].shape[0]
    assert n == 48


def test_in_memory_trains_through_the_runner(tiny_mnist_root, tmp_path):
    """The -inmemory data path (wrapper, batched collate, batch-wise shift)
    trains and validates through mmengine's Runner and hooks."""
    runner = build_tiny_runner(tmp_path, tiny_mnist_root, extra='''
train_dataloader = dict(
    collate_fn=dict(type='batched_collate'),
    dataset=dict(_delete_=True, type='InMemoryDataset',
                 dataset=dict(type='MNISTIdx',
                              data_root={{_base_.data_root}},
                              split='train', check_md5=False)))
model = dict(data_preprocessor=dict(
    type='RandomShiftDataPreprocessor', random_shift=2, num_classes=10,
    mean=[0.], std=[255.]))
train_cfg = dict(max_epochs=1)
''')
    assert isinstance(runner.model.data_preprocessor,
                      RandomShiftDataPreprocessor)
    runner.train()
    assert runner.iter == 3  # 48 images, batches of 16
    assert 'val/accuracy/top1' in runner.message_hub.log_scalars
    assert (tmp_path / 'epoch_1.pth').is_file()
