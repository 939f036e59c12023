"""AffineMNIST: MNIST digits under random affine transforms, generated from
the sample index, an affNIST look-alike."""
import math
import numbers
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
from mmpretrain.datasets import BaseDataset
from mmpretrain.datasets.categories import MNIST_CATEGORITES
from mmpretrain.registry import DATASETS

from .utils import read_source_digits

__all__ = ['affine_matrix', 'warp_affine', 'AffineMNIST']

# Draws of a transform before one that fits the canvas is given up on.
_MAX_DRAWS = 100


def affine_matrix(rotation: float, shear: float, scale_x: float,
                  scale_y: float) -> np.ndarray:
    """The linear part of an affine transform in image coordinates.

    ``A = R(rotation) @ Sh(shear) @ S(scale_x, scale_y)`` acting on
    ``(x, y)`` pixel coordinates, ``x`` to the right and ``y`` down: first
    scale each axis, then shear horizontally (``x += tan(shear) * y``),
    then rotate counter-clockwise as the image is displayed.

    Args:
        rotation: Counter-clockwise rotation in degrees.
        shear: Shear angle in degrees; the shear factor is its tangent.
        scale_x: Horizontal scale factor.
        scale_y: Vertical scale factor.

    Returns:
        ``(2, 2)`` float64 array.
    """
    theta, phi = math.radians(rotation), math.radians(shear)
    cos, sin = math.cos(theta), math.sin(theta)
    # With y pointing down, a counter-clockwise turn on screen sends the
    # +x axis to (cos, -sin).
    rotate = np.array([[cos, sin], [-sin, cos]])
    shear_m = np.array([[1.0, math.tan(phi)], [0.0, 1.0]])
    return rotate @ shear_m @ np.diag([float(scale_x), float(scale_y)])


def warp_affine(img: np.ndarray, matrix: np.ndarray,
                out_shape: Tuple[int, int]) -> np.ndarray:
    """Resample a grey image under an affine map, bilinearly, in NumPy.

    Output pixel ``(x, y)`` takes the input's bilinear interpolation at
    ``matrix^-1 (x, y)``, pixels outside the input counting as 0, rounded
    to the nearest integer (ties to even). ``matrix`` follows OpenCV's
    ``warpAffine`` convention (the forward map, pixel centres at integer
    coordinates); this float64 implementation has none of the
    build-dependent fixed-point rounding of OpenCV's (1 grey level apart
    at most).

    Args:
        img: ``(h, w)`` uint8 image.
        matrix: ``(2, 3)`` forward map, input ``(x, y, 1)`` -> output
            ``(x, y)``; its ``2x2`` part must be invertible.
        out_shape: ``(H, W)`` of the output.

    Returns:
        ``(H, W)`` uint8 image.

    Raises:
        ValueError: For a non-2-D image, a matrix not of shape ``(2, 3)``
            or a singular one.
    """
    img = np.asarray(img)
    matrix = np.asarray(matrix, dtype=np.float64)
    if img.ndim != 2:
        raise ValueError(f'warp_affine: img must be a (h, w) grey image, '
                         f'got shape {img.shape}')
    if matrix.shape != (2, 3):
        raise ValueError(f'warp_affine: matrix must have shape (2, 3), got '
                         f'{matrix.shape}')
    (a, b), (c, d) = matrix[:, :2]
    det = a * d - b * c
    if not abs(det) > 1e-12:
        raise ValueError(f'warp_affine: the 2x2 part of matrix is singular '
                         f'(determinant {det}); use non-zero scales')
    h, w = img.shape
    ys, xs = np.mgrid[0:out_shape[0], 0:out_shape[1]].astype(np.float64)
    u, v = xs - matrix[0, 2], ys - matrix[1, 2]
    # The inverse written out: exact for the identity, so that untouched
    # pixels come back bit for bit.
    x_in = (d * u - b * v) / det
    y_in = (a * v - c * u) / det
    x0, y0 = np.floor(x_in), np.floor(y_in)
    fx, fy = x_in - x0, y_in - y0
    # A one-pixel zero border makes every out-of-range neighbour read 0
    # once indices are clipped onto it.
    padded = np.zeros((h + 2, w + 2))
    padded[1:-1, 1:-1] = img
    cols = [np.clip(x0 + k + 1, 0, w + 1).astype(np.intp) for k in (0, 1)]
    rows = [np.clip(y0 + k + 1, 0, h + 1).astype(np.intp) for k in (0, 1)]
    top, bottom = ((1 - fx) * padded[r, cols[0]] + fx * padded[r, cols[1]]
                   for r in rows)
    out = (1 - fy) * top + fy * bottom
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _check_number(name: str, value, minimum: float,
                  integer: bool = False) -> Union[int, float]:
    kind = numbers.Integral if integer else numbers.Real
    if (isinstance(value, bool) or not isinstance(value, kind)
            or not value >= minimum):
        raise ValueError(f'AffineMNIST: {name} must be '
                         f'{"an integer" if integer else "a number"} >= '
                         f'{minimum}, got {value!r}')
    return int(value) if integer else float(value)


@DATASETS.register_module()
class AffineMNIST(BaseDataset):
    """MNIST digits under a random affine transform each, on a 40x40
    canvas: an affNIST look-alike generated from the sample index.

    affNIST (http://www.cs.toronto.edu/~tijmen/affNIST/) applies random
    "reasonable affine transformations" to MNIST digits, on 40x40; Sabour
    et al. (2017, Sec. 5.2) test on it a CapsNet and a CNN trained on
    digits only translated (see :class:`RandomPlacement`). Where the real
    files are at hand, :class:`AffNIST` reads them; this dataset draws
    transforms of the same kinds, so that the experiment runs anywhere.

    Sample ``index`` transforms source digit ``index % N`` (consecutive
    indices run over all ``N`` digits) with parameters drawn from
    ``np.random.default_rng((seed, index))``: the sample depends only on
    ``(seed, index)``, identically on any machine, worker or rank, and no
    image is stored. The transform, about the digit's centre:

    1. scale ``x`` and ``y`` by factors drawn independently from
       ``scale_range``;
    2. shear horizontally by an angle drawn from ``[-max_shear,
       max_shear]`` degrees (shear factor ``tan(angle)``);
    3. rotate by an angle drawn from ``[-max_rotation, max_rotation]``
       degrees (counter-clockwise when positive);
    4. with ``translate``, shift by a uniform amount along each axis within
       the range that keeps the centres of all ink pixels (the bounding box
       of the digit's non-zero pixels) inside the canvas. Without
       ``translate`` the digit's centre stays at the canvas centre.

    Steps 1-3 are drawn again (from the same generator) while the
    transformed ink is wider or taller than the canvas: with the defaults,
    about 1.3 % of the draws on MNIST test digits, mostly the strongest
    shears. After 100 misses the last draw is kept, its ink centred and
    cropped.

    The digit is resampled with bilinear interpolation (:func:`warp_affine`)
    and rounded to uint8. The defaults are the ranges usually quoted for
    affNIST -- rotation within 20 degrees, shear within 45 degrees, scale
    0.8-1.2 per axis, the digit kept inside the 40x40 image -- which could
    not be checked against the affNIST page here: compare a few samples
    with real affNIST images before reading numbers across the two.
    ``max_rotation=0, max_shear=0, scale_range=(1, 1)`` gives the digits
    merely placed at random, continuous positions (``translate=True``) or
    centred (``translate=False``, identical to :class:`CenterPlacement`
    for an even amount of free room).

    Data infos: ``img`` (``(canvas_size, canvas_size)`` uint8),
    ``gt_label``, ``affine_params`` (float64 ``[rotation, shear, scale_x,
    scale_y, shift_x, shift_y]``, angles in degrees, shifts in pixels from
    the centred position), ``affine_matrix`` (the ``(2, 3)`` forward map
    from source to canvas pixel coordinates), ``source_index`` and
    ``sample_idx``.

    Args:
        dataset: The source digits, a config such as ``dict(type=
            'MNISTIdx', data_root=..., split='test')`` or a built dataset;
            its data infos need ``img`` (2-D uint8) and ``gt_label``.
        transforms_per_digit: Transformed versions of each source digit
            (affNIST: 32, i.e. 320,000 test images).
        max_rotation: Largest rotation in degrees.
        max_shear: Largest shear angle in degrees, below 90.
        scale_range: ``(low, high)`` of each axis' scale factor, ``0 <
            low <= high``.
        translate: Shift the digit at random within the canvas.
        canvas_size: Side of the square output.
        seed: Seed of the transforms.
        pipeline: Transforms applied to each data info.
        test_mode: Passed to ``BaseDataset``.
        metainfo: Meta information; the classes default to MNIST's.
        lazy_init: Defer reading the source digits to the first access.

    Raises:
        ValueError: For a bad parameter (named in the message), or source
            images that are not 2-D uint8 of one size.
    """

    METAINFO = {'classes': MNIST_CATEGORITES}

    def __init__(self,
                 dataset: Union[dict, BaseDataset],
                 transforms_per_digit: int = 1,
                 max_rotation: float = 20.0,
                 max_shear: float = 45.0,
                 scale_range: Sequence[float] = (0.8, 1.2),
                 translate: bool = True,
                 canvas_size: int = 40,
                 seed: int = 0,
                 pipeline: Sequence = (),
                 test_mode: bool = True,
                 metainfo: Optional[dict] = None,
                 lazy_init: bool = False) -> None:
        self.transforms_per_digit = _check_number(
            'transforms_per_digit', transforms_per_digit, 1, integer=True)
        self.max_rotation = _check_number('max_rotation', max_rotation, 0)
        self.max_shear = _check_number('max_shear', max_shear, 0)
        if self.max_shear >= 90:
            raise ValueError('AffineMNIST: max_shear must be below 90 '
                             f'degrees, got {max_shear!r}')
        low, high = self._check_scale_range(scale_range)
        self.scale_range = (low, high)
        self.translate = bool(translate)
        self.canvas_size = _check_number(
            'canvas_size', canvas_size, 1, integer=True)
        self.seed = _check_number('seed', seed, 0, integer=True)
        self._source = dataset
        super().__init__(
            ann_file='',
            metainfo=metainfo,
            serialize_data=False,
            pipeline=list(pipeline),
            test_mode=test_mode,
            lazy_init=lazy_init)

    @staticmethod
    def _check_scale_range(scale_range) -> Tuple[float, float]:
        try:
            low, high = (float(s) for s in scale_range)
        except (TypeError, ValueError):
            low = high = math.nan
        if not 0 < low <= high:
            raise ValueError('AffineMNIST: scale_range must be a (low, high) '
                             f'pair with 0 < low <= high, got {scale_range!r}')
        return low, high

    def full_init(self) -> None:
        """Read the source digits and the bounding box of each one's ink."""
        if self._fully_initialized:
            return
        images, labels = read_source_digits(self._source, 'AffineMNIST')
        self._images = images
        self._labels = labels.tolist()
        self._ink_corners = np.stack([self._corners(img) for img in images])
        self._fully_initialized = True

    @staticmethod
    def _corners(img: np.ndarray) -> np.ndarray:
        """``(4, 2)`` ``(x, y)`` corners of the ink's bounding box, relative
        to the image centre; the whole image for a blank one."""
        rows = np.flatnonzero(img.any(axis=1))
        cols = np.flatnonzero(img.any(axis=0))
        h, w = img.shape
        if len(rows) == 0:
            rows, cols = np.array([0, h - 1]), np.array([0, w - 1])
        x = np.array([cols[0], cols[-1]]) - (w - 1) / 2
        y = np.array([rows[0], rows[-1]]) - (h - 1) / 2
        return np.array([(xi, yi) for xi in x for yi in y])

    def __len__(self) -> int:
        self.full_init()
        return len(self._images) * self.transforms_per_digit

    def sample_params(self, idx: int) -> Tuple[np.ndarray, np.ndarray]:
        """The transform of sample ``idx`` (``0 <= idx < len(self)``).

        Returns:
            ``affine_params`` (see the class docstring) and the ``(2, 3)``
            forward matrix.
        """
        rng = np.random.default_rng((self.seed, idx))
        ink = self._ink_corners[idx % len(self._images)]
        for _ in range(_MAX_DRAWS):
            rotation = rng.uniform(-self.max_rotation, self.max_rotation)
            shear = rng.uniform(-self.max_shear, self.max_shear)
            scale_x, scale_y = rng.uniform(*self.scale_range, size=2)
            # Drawn whatever `translate` says, so that the flag changes the
            # shift alone.
            fractions = rng.random(2)
            linear = affine_matrix(rotation, shear, scale_x, scale_y)
            moved = ink @ linear.T
            if (moved.max(axis=0) - moved.min(axis=0)
                    <= self.canvas_size - 1).all():
                break
        shift = np.zeros(2)
        centre_out = (self.canvas_size - 1) / 2
        if self.translate:
            # Shifts keeping centre_out + shift + moved within
            # [0, canvas_size - 1] along each axis.
            low = -centre_out - moved.min(axis=0)
            high = centre_out - moved.max(axis=0)
            shift = np.where(low <= high, low + fractions * (high - low),
                             (low + high) / 2)
        h, w = self._images.shape[1:]
        centre_in = np.array([(w - 1) / 2, (h - 1) / 2])
        offset = centre_out + shift - linear @ centre_in
        params = np.array([rotation, shear, scale_x, scale_y, *shift])
        return params, np.column_stack([linear, offset])

    def get_data_info(self, idx: int) -> dict:
        """Generate sample ``idx`` (see the class docstring for its keys)."""
        num = len(self)
        if not -num <= idx < num:
            raise IndexError(f'AffineMNIST index {idx} out of range for '
                             f'{num} samples')
        idx = int(idx) % num
        source = idx % len(self._images)
        params, matrix = self.sample_params(idx)
        img = warp_affine(self._images[source], matrix,
                          (self.canvas_size, self.canvas_size))
        return dict(
            img=img,
            gt_label=self._labels[source],
            affine_params=params,
            affine_matrix=matrix,
            source_index=source,
            sample_idx=idx)

    def prepare_data(self, idx: int):
        """The pipeline's output for sample ``idx``."""
        return self.pipeline(self.get_data_info(idx))

    def get_cat_ids(self, idx: int) -> List[int]:
        """The class of sample ``idx``."""
        self.full_init()
        return [self._labels[int(idx) % len(self._images)]]

    def extra_repr(self) -> List[str]:
        """Extra lines for ``repr``."""
        return [
            f'Transforms per digit: \t{self.transforms_per_digit}',
            f'Rotation: \t+-{self.max_rotation} deg, shear +-'
            f'{self.max_shear} deg, scale {self.scale_range}',
            f'Canvas: \t{self.canvas_size}x{self.canvas_size}, '
            f'translate={self.translate}', f'Seed: \t{self.seed}'
        ]
