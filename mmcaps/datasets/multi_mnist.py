"""MultiMNIST: two overlapping MNIST digits, generated from an index."""
import numbers
from typing import List, Optional, Sequence, Union

import numpy as np
import torch
from mmpretrain.datasets import BaseDataset
from mmpretrain.datasets.categories import MNIST_CATEGORITES
from mmpretrain.registry import DATASETS

from .utils import read_source_digits

__all__ = ['MultiMNIST']

_DIGIT_SIZE = 28


def _check_int(name: str, value, minimum: int) -> int:
    if (isinstance(value, bool) or not isinstance(value, numbers.Integral)
            or value < minimum):
        raise ValueError(f'MultiMNIST: {name} must be an integer >= '
                         f'{minimum}, got {value!r}')
    return int(value)


@DATASETS.register_module()
class MultiMNIST(BaseDataset):
    """Overlays of two shifted digits of different classes (Sabour et al.
    2017, Sec. 6), generated on the fly from the sample index.

    Sample ``index`` pairs digit ``i = index % N`` of the ``N``-digit
    source split (its ``k = index // N``-th pairing) with a digit of
    another class; that second digit and the two shifts are drawn from
    ``np.random.default_rng((seed, epoch, index))``. Consecutive indices
    thus run through all source digits, so even an unshuffled pass mixes
    the classes. A sample thus depends only on ``(seed, epoch, index)``: the
    same on any machine and in any worker or rank, and nothing of size
    ``len(self)`` is ever built (``60,000 * 1,000 = 60 M`` training pairs
    in the paper). Only the source digits are held, as one ``(N, 28, 28)``
    uint8 array (47 MB for MNIST's training split), shared by forked
    dataloader workers.

    Each digit is shifted by an integer in ``[-max_shift, max_shift]``
    along each axis on a ``(28 + 2 * pad)``-square canvas; the overlay is
    the pixel-wise sum clipped to 255. The paper: ``max_shift=4, pad=4``
    (36x36); the official code's generator: ``max_shift=6, pad=4``, which
    crops a digit shifted past the padding (allowed with
    ``allow_crop=True``).

    Data infos: ``img`` (``(H, W)`` uint8 overlay), ``gt_label`` (the two
    classes, first digit first: ``PackInputs`` makes it a multi-label
    ``gt_label`` of two indices, which ``ClsDataPreprocessor``,
    ``MultiLabelLinearClsHead`` and mmpretrain's multi-label metrics
    accept), ``digit_images`` (``(2, 1, H, W)`` float32 tensor in ``[0, 1]``
    -- a tensor so that the data preprocessor moves it to the device: each
    digit alone, shifted as in the overlay, the reconstruction targets; put
    it in the data sample with ``PackInputs(algorithm_keys=
    ('digit_images', ))``), ``source_indices`` and ``shifts`` (``(2, 2)``,
    ``(dy, dx)`` per digit).

    Args:
        dataset: The single-digit dataset to draw from (a config such as
            ``dict(type='MNISTIdx', data_root=..., split='test')``, or a
            built one): its data infos need ``img`` (28x28 uint8) and
            ``gt_label``.
        pairs_per_digit: Pairings per source digit (the paper: 1,000).
        max_shift: Largest shift in pixels along each axis (the paper: 4).
        pad: Canvas padding around the 28x28 digit (the paper: 4 -> 36x36).
        seed: Seed of the pairings and shifts.
        resample_each_epoch: Draw fresh pairs and shifts every epoch (set
            with :meth:`set_epoch`); defaults to ``not test_mode``, so the
            test split is always the same. In training, the epoch comes
            from :class:`~mmcaps.datasets.LazySampler`'s ``set_epoch`` (which
            ``DistSamplerSeedHook`` calls before each epoch) in the main
            process, which dataloader workers see only when they are
            re-created, i.e. with ``persistent_workers=False``; or from
            :class:`SeededDataset` (``ResumableEpochBasedTrainLoop``), which
            hands it over with every sample, to persistent workers too.
        allow_crop: Allow ``max_shift > pad`` (digits cropped at the
            border).
        pipeline: Transforms applied to each data info.
        test_mode: Passed to ``BaseDataset``; defaults to the source
            dataset's ``test_mode``.
        metainfo: Meta information; the classes default to the source's.
        lazy_init: Defer reading the source digits to the first access.

    Raises:
        ValueError: ``pairs_per_digit < 1``, a negative ``max_shift`` or
            ``pad``, ``max_shift > pad`` without ``allow_crop``, a source
            with fewer than two classes or non-28x28 images.
    """

    METAINFO = {'classes': MNIST_CATEGORITES}

    def __init__(self,
                 dataset: Union[dict, BaseDataset],
                 pairs_per_digit: int = 1000,
                 max_shift: int = 4,
                 pad: int = 4,
                 seed: int = 0,
                 resample_each_epoch: Optional[bool] = None,
                 allow_crop: bool = False,
                 pipeline: Sequence = (),
                 test_mode: Optional[bool] = None,
                 metainfo: Optional[dict] = None,
                 lazy_init: bool = False) -> None:
        self.pairs_per_digit = _check_int('pairs_per_digit', pairs_per_digit,
                                          1)
        self.max_shift = _check_int('max_shift', max_shift, 0)
        self.pad = _check_int('pad', pad, 0)
        if self.max_shift > self.pad and not allow_crop:
            raise ValueError(
                f'MultiMNIST: max_shift={max_shift} is larger than pad={pad}'
                ', so shifted digits would leave the canvas; raise pad to '
                f'at least {max_shift} or pass allow_crop=True')
        self.seed = _check_int('seed', seed, 0)
        self.canvas_size = _DIGIT_SIZE + 2 * self.pad
        self._source = dataset
        if test_mode is None:
            test_mode = bool(
                dataset.get('test_mode', dataset.get('split') == 'test')
                if isinstance(dataset, dict) else dataset.test_mode)
        self.resample_each_epoch = (not test_mode
                                    if resample_each_epoch is None else
                                    bool(resample_each_epoch))
        self.epoch = 0
        super().__init__(
            ann_file='',
            metainfo=metainfo,
            serialize_data=False,
            pipeline=list(pipeline),
            test_mode=test_mode,
            lazy_init=lazy_init)

    def full_init(self) -> None:
        """Read the source digits and index them by class: O(source size),
        never O(len(self))."""
        if self._fully_initialized:
            return
        images, labels = read_source_digits(self._source, 'MultiMNIST')
        if images.shape[1:] != (_DIGIT_SIZE, _DIGIT_SIZE):
            raise ValueError('MultiMNIST needs 28x28 source images, got '
                             f'{images.shape[1:]}')
        classes, counts = np.unique(labels, return_counts=True)
        if len(classes) < 2:
            raise ValueError(
                'MultiMNIST pairs digits of different classes, but the '
                f'source dataset has {len(classes)} class(es)')
        self._images = images
        self._labels = labels
        # Source indices grouped by class: the digits of any other class
        # than c are the two runs of `_by_class` around c's run, so a
        # partner is drawn in O(1) without a per-class index list.
        self._by_class = np.argsort(labels, kind='stable')
        starts = np.zeros(labels.max() + 1, dtype=np.int64)
        sizes = np.zeros(labels.max() + 1, dtype=np.int64)
        sizes[classes] = counts
        starts[1:] = np.cumsum(sizes)[:-1]
        self._class_start = starts
        self._class_size = sizes
        self._fully_initialized = True

    def __len__(self) -> int:
        self.full_init()
        return len(self._images) * self.pairs_per_digit

    def set_epoch(self, epoch: int) -> None:
        """Draw the pairs of ``epoch`` (only with ``resample_each_epoch``)."""
        self.epoch = int(epoch)

    def get_data_info(self, idx: int) -> dict:
        """Generate sample ``idx`` (see the class docstring for its keys)."""
        num = len(self)
        if not -num <= idx < num:
            raise IndexError(f'MultiMNIST index {idx} out of range for '
                             f'{num} samples')
        idx = int(idx) % num
        epoch = self.epoch if self.resample_each_epoch else 0
        rng = np.random.default_rng((self.seed, epoch, idx))
        first = idx % len(self._images)
        label = self._labels[first]
        start, size = self._class_start[label], self._class_size[label]
        r = int(rng.integers(len(self._labels) - size))
        second = int(self._by_class[r if r < start else r + size])
        shifts = rng.integers(
            -self.max_shift, self.max_shift + 1, size=(2, 2))
        digits = np.zeros((2, 1, self.canvas_size, self.canvas_size),
                          dtype=np.uint8)
        for k, (src, (dy, dx)) in enumerate(zip((first, second), shifts)):
            self._paste(digits[k, 0], self._images[src], dy, dx)
        overlay = np.minimum(
            digits[:, 0].sum(axis=0, dtype=np.uint16), 255).astype(np.uint8)
        return dict(
            img=overlay,
            gt_label=np.array([label, self._labels[second]]),
            digit_images=torch.from_numpy(digits).float().div_(255),
            source_indices=np.array([first, second]),
            shifts=shifts,
            sample_idx=idx)

    def _paste(self, canvas: np.ndarray, digit: np.ndarray, dy: int,
               dx: int) -> None:
        """Put ``digit`` on ``canvas`` at offset ``pad + (dy, dx)``,
        cropping what falls outside (only with ``allow_crop``)."""
        top, left = self.pad + dy, self.pad + dx
        y0, x0 = max(top, 0), max(left, 0)
        y1 = min(top + _DIGIT_SIZE, self.canvas_size)
        x1 = min(left + _DIGIT_SIZE, self.canvas_size)
        canvas[y0:y1, x0:x1] = digit[y0 - top:y1 - top, x0 - left:x1 - left]

    def prepare_data(self, idx: int):
        """The pipeline's output for sample ``idx``."""
        return self.pipeline(self.get_data_info(idx))

    def get_cat_ids(self, idx: int) -> List[int]:
        """The two classes of sample ``idx``."""
        return self.get_data_info(idx)['gt_label'].tolist()

    def extra_repr(self) -> List[str]:
        """Extra lines for ``repr``."""
        return [
            f'Pairs per digit: \t{self.pairs_per_digit}',
            f'Canvas: \t{self.canvas_size}x{self.canvas_size}, '
            f'max shift {self.max_shift}', f'Seed: \t{self.seed}'
        ]
