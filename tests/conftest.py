from pathlib import Path

import numpy as np
import pytest

from mmcaps.datasets import write_idx

REPO = Path(__file__).resolve().parents[1]


def write_tiny_mnist(root: Path, num_train: int = 48, num_test: int = 20,
                     seed: int = 0) -> Path:
    """Write the four MNIST IDX .gz files with random digits under
    ``root`` (MD5s will not match: use ``check_md5=False``)."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for prefix, n in (('train', num_train), ('t10k', num_test)):
        write_idx(str(root / f'{prefix}-images-idx3-ubyte.gz'),
                  rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(str(root / f'{prefix}-labels-idx1-ubyte.gz'),
                  np.arange(n, dtype=np.uint8) % 10)
    return root


@pytest.fixture(scope='session')
def tiny_mnist_root(tmp_path_factory) -> Path:
    return write_tiny_mnist(tmp_path_factory.mktemp('tiny_mnist'))
