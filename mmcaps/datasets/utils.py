"""Dataset helpers: fetching files safely from a list of mirrors, and
reading the source digits of the datasets generated from MNIST."""
import hashlib
import http.client
import os
import os.path as osp
import tempfile
import urllib.request
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
from mmengine.dataset import BaseDataset
from mmengine.logging import print_log
from mmpretrain.registry import DATASETS

__all__ = ['md5sum', 'download_file', 'read_source_digits']

_CHUNK_SIZE = 1 << 20


def md5sum(path: str, chunk_size: int = _CHUNK_SIZE) -> str:
    """Compute the MD5 hex digest of a file without loading it whole.

    Args:
        path: The file to hash.
        chunk_size: How many bytes to read at a time.

    Returns:
        The lower-case hexadecimal MD5 digest.
    """
    # ``usedforsecurity=False`` keeps this working on FIPS-enabled systems,
    # where MD5 is refused unless it is declared a plain checksum.
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(chunk_size), b''):
            digest.update(chunk)
    return digest.hexdigest()


def download_file(urls: Sequence[str],
                  dest: str,
                  md5: Optional[str] = None,
                  timeout: float = 60.0) -> str:
    """Download a file, trying several mirrors in turn.

    Each URL is fetched into a temporary file in the folder of ``dest``,
    which is renamed to ``dest`` only once it is complete and its MD5 (when
    given) matches, so an interrupted or failed download never leaves a
    partial file under the final name. An HTTP error, a network error, an
    incomplete body or an MD5 mismatch moves on to the next URL.

    Args:
        urls: The URLs to try, in order.
        dest: The path to write the file to; its folder is created if needed.
        md5: The expected MD5 hex digest, or None to skip the check.
        timeout: Socket timeout in seconds for each connection attempt.

    Returns:
        ``dest``.

    Raises:
        ValueError: If ``urls`` is empty.
        RuntimeError: If every URL failed; the message lists each URL with
            the reason it failed.
    """
    # A bare string is a Sequence[str] too: iterating it would try each
    # character as a URL.
    urls = [urls] if isinstance(urls, str) else list(urls)
    if not urls:
        raise ValueError(f'download_file: no URLs given for {dest}.')
    folder = osp.dirname(osp.abspath(dest))
    os.makedirs(folder, exist_ok=True)

    failures: List[str] = []
    for url in urls:
        print_log(f'Downloading {url} -> {dest}', logger='current')
        reason = _try_download(url, dest, folder, md5, timeout)
        if reason is None:
            print_log(f'Saved {dest}', logger='current')
            return dest
        print_log(f'Download from {url} failed: {reason}', logger='current')
        failures.append(f'  {url}: {reason}')
    raise RuntimeError(f'Could not download {dest} from any of the '
                       f'{len(urls)} URL(s) tried:\n' + '\n'.join(failures))


def _try_download(url: str, dest: str, folder: str, md5: Optional[str],
                  timeout: float) -> Optional[str]:
    """Fetch one URL into ``dest``.

    Returns:
        None on success, otherwise why it failed.
    """
    fd, tmp_path = tempfile.mkstemp(
        dir=folder, prefix=f'.{osp.basename(dest)}.', suffix='.part')
    try:
        digest = hashlib.md5(usedforsecurity=False)
        received = 0
        try:
            with os.fdopen(fd, 'wb') as out, \
                    urllib.request.urlopen(url, timeout=timeout) as resp:
                expected_size = resp.headers.get('Content-Length')
                for chunk in iter(lambda: resp.read(_CHUNK_SIZE), b''):
                    out.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
        # URLError/HTTPError and socket timeouts are OSErrors; a malformed
        # URL is a ValueError; a dropped connection can surface as an
        # http.client exception.
        except (OSError, ValueError, http.client.HTTPException) as e:
            return f'{type(e).__name__}: {e}'
        if expected_size is not None and received != int(expected_size):
            return (f'incomplete download: got {received} of '
                    f'{expected_size} bytes')
        if md5 is not None and digest.hexdigest() != md5.lower():
            return (f'MD5 mismatch: expected {md5.lower()}, '
                    f'got {digest.hexdigest()}')
        os.replace(tmp_path, dest)
        return None
    finally:
        if osp.exists(tmp_path):
            os.remove(tmp_path)


def read_source_digits(source: Union[dict, BaseDataset],
                       dataset_name: str) -> Tuple[np.ndarray, np.ndarray]:
    """Read every image and label of the dataset another one is generated
    from (MultiMNIST, AffineMNIST).

    Args:
        source: The source dataset, or its config.
        dataset_name: The generated dataset's name, for the error messages.

    Returns:
        Images ``(N, H, W)`` uint8 and labels ``(N,)`` int64.

    Raises:
        ValueError: Source images not 2-D of one size, or not uint8.
    """
    if isinstance(source, dict):
        source = DATASETS.build(source)
    infos = [source.get_data_info(i) for i in range(len(source))]
    shapes = {np.shape(info['img']) for info in infos}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise ValueError(f'{dataset_name} needs 2-D source images of one '
                         f'size, got shapes {sorted(shapes)}')
    images = np.stack([np.asarray(info['img']) for info in infos])
    if images.dtype != np.uint8:
        raise ValueError(f'{dataset_name} needs uint8 source images, got '
                         f'{images.dtype}')
    labels = np.array([int(info['gt_label']) for info in infos],
                      dtype=np.int64)
    return images, labels
