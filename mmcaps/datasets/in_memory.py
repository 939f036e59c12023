"""Batch-wise loading of small image datasets held as one tensor."""
from typing import List, Sequence, Union

import numpy as np
import torch
from mmengine.dataset import BaseDataset, pseudo_collate
from mmengine.registry import FUNCTIONS
from mmpretrain.registry import DATASETS
from mmpretrain.structures import DataSample

__all__ = ['InMemoryDataset', 'batched_collate']


@DATASETS.register_module()
class InMemoryDataset(torch.utils.data.Dataset):
    """Hold a dataset's images as one uint8 tensor and serve whole batches.

    The per-sample pipeline (deserialising a data info, packing it, one
    Python call chain per image) costs more than a capsule layer's step on
    a GPU for MNIST-sized images. This wrapper stacks every ``img`` of the
    wrapped dataset once, ``(N, C, H, W)`` uint8 (47 MB for MNIST's 60,000
    training digits), optionally on the GPU, and implements
    ``__getitems__`` so that a ``DataLoader`` fetches a batch with one
    indexing operation; pair it with ``collate_fn=dict(type=
    'batched_collate')`` and, for augmentation, a batch-wise data
    preprocessor such as ``RandomShiftDataPreprocessor``. The wrapped
    dataset's own ``pipeline`` is not applied.

    Args:
        dataset: The dataset or its config; its data infos need ``img``
            (``(H, W)`` or ``(H, W, C)`` uint8 arrays of one shape) and
            ``gt_label``.
        device: Where to keep the tensors: ``'cpu'``, ``'cuda'`` or
            ``'auto'`` (CUDA when available). With a CUDA device the
            dataloader must use ``num_workers=0``.
    """

    def __init__(self,
                 dataset: Union[dict, BaseDataset],
                 device: str = 'cpu') -> None:
        self.dataset = (DATASETS.build(dataset)
                        if isinstance(dataset, dict) else dataset)
        if device == 'auto':
            device = 'cuda' if torch.cuda.is_available() else 'cpu'
        infos = [self.dataset.get_data_info(i)
                 for i in range(len(self.dataset))]
        if not infos:
            raise ValueError('InMemoryDataset: the wrapped dataset is empty')
        images = np.stack([info['img'] for info in infos])
        if images.dtype != np.uint8:
            raise ValueError('InMemoryDataset holds uint8 images, got '
                             f'{images.dtype}')
        images = torch.from_numpy(images)
        images = (images.unsqueeze(1) if images.dim() == 3 else
                  images.permute(0, 3, 1, 2))
        self.images = images.contiguous().to(device)
        self.labels = torch.tensor([int(info['gt_label']) for info in infos],
                                   device=device)

    @property
    def metainfo(self) -> dict:
        return self.dataset.metainfo

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> dict:
        return dict(
            inputs=self.images[index],
            data_samples=DataSample().set_gt_label(int(self.labels[index])))

    def __getitems__(self, indices: Sequence[int]) -> dict:
        """A whole batch: ``inputs`` ``(B, C, H, W)`` uint8 and one
        ``DataSample`` per image."""
        index = torch.as_tensor(indices, device=self.images.device)
        labels = self.labels[index].tolist()
        return dict(
            inputs=self.images[index],
            data_samples=[DataSample().set_gt_label(y) for y in labels])


@FUNCTIONS.register_module()
def batched_collate(data: Union[dict, List]) -> dict:
    """Collate for datasets with ``__getitems__`` that return a batch dict
    (passed through); anything else goes to mmengine's ``pseudo_collate``."""
    if isinstance(data, dict):
        return data
    return pseudo_collate(data)
