"""Files that are never left half-written: durable atomic writes, MD5
checksums and downloads from a list of mirrors."""
import hashlib
import http.client
import os
import os.path as osp
import tempfile
import urllib.request
from contextlib import contextmanager
from typing import Iterator, List, Optional, Sequence, Union

from mmengine.logging import print_log

__all__ = [
    'md5sum', 'fsync_dir', 'atomic_path', 'download_file', 'format_bytes'
]

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


def format_bytes(size: int) -> str:
    """``size`` in the largest binary unit that keeps it >= 1, e.g.
    ``'4.0 GiB'``."""
    value = float(size)
    for unit in ('B', 'KiB', 'MiB', 'GiB'):
        if value < 1024:
            return f'{value:.1f} {unit}' if unit != 'B' else f'{size} B'
        value /= 1024
    return f'{value:.1f} TiB'


def fsync_dir(folder: str) -> None:
    """Flush ``folder``'s entries to disk, so that a file just created or
    renamed in it survives a power loss under its new name.

    A no-op where folders cannot be opened for syncing (Windows).
    """
    if not hasattr(os, 'O_DIRECTORY'):
        return
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """A temporary path to write ``path``'s new content to.

    When the block succeeds, the temporary file is flushed to disk, renamed
    onto ``path`` with ``os.replace`` (atomic on POSIX and Windows within
    one file system, hence the temporary file sits in the same folder) and
    the folder is flushed too, so that after a crash or power loss readers
    see the old file or the complete new one. When the block raises, the
    temporary file is removed and ``path`` is left as it was. A process
    killed inside the block leaves ``path`` intact and a stray
    ``<path>.tmp``, which the next write of ``path`` overwrites.

    Args:
        path: The file to (re)write.

    Yields:
        ``path + '.tmp'``.
    """
    tmp = f'{path}.tmp'
    try:
        yield tmp
        with open(tmp, 'rb+') as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_dir(osp.dirname(osp.abspath(path)))
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


def download_file(urls: Union[str, Sequence[str]],
                  dest: str,
                  md5: Optional[str] = None,
                  timeout: float = 60.0,
                  max_bytes: Optional[int] = None) -> str:
    """Download a file, trying several mirrors in turn.

    Each URL is fetched into a temporary file in the folder of ``dest``,
    which is flushed to disk and renamed to ``dest`` only once it is
    complete and its MD5 (when given) matches, so an interrupted or failed
    download never leaves a partial file under the final name. An HTTP
    error, a network error, a malformed ``Content-Length``, an incomplete
    body, a body over ``max_bytes`` or an MD5 mismatch moves on to the next
    URL.

    Args:
        urls: The URLs to try, in order (or a single one).
        dest: The path to write the file to; its folder is created if needed.
        md5: The expected MD5 hex digest, or None to skip the check.
        timeout: Socket timeout in seconds for each connection attempt and
            each read.
        max_bytes: The largest file accepted, or None for no limit; a larger
            announced ``Content-Length`` is refused before the body is read,
            and a body that grows past it is cut off.

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
        reason = _try_download(url, dest, folder, md5, timeout, max_bytes)
        if reason is None:
            print_log(f'Saved {dest}', logger='current')
            return dest
        print_log(f'Download from {url} failed: {reason}', logger='current')
        failures.append(f'  {url}: {reason}')
    raise RuntimeError(f'Could not download {dest} from any of the '
                       f'{len(urls)} URL(s) tried:\n' + '\n'.join(failures))


def _content_length(value: Optional[str]) -> Optional[int]:
    """The size a ``Content-Length`` header announces, None without one.

    Raises:
        ValueError: The header is not a non-negative decimal integer.
    """
    if value is None:
        return None
    if not value.strip().isdigit():
        raise ValueError(f'malformed Content-Length header {value!r}')
    return int(value)


def _try_download(url: str, dest: str, folder: str, md5: Optional[str],
                  timeout: float, max_bytes: Optional[int]) -> Optional[str]:
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
                expected_size = _content_length(
                    resp.headers.get('Content-Length'))
                if (max_bytes is not None and expected_size is not None
                        and expected_size > max_bytes):
                    return (f'the server announces {expected_size} bytes, '
                            f'over the {format_bytes(max_bytes)} limit')
                for chunk in iter(lambda: resp.read(_CHUNK_SIZE), b''):
                    received += len(chunk)
                    if max_bytes is not None and received > max_bytes:
                        return (f'the body grew past the '
                                f'{format_bytes(max_bytes)} limit')
                    out.write(chunk)
                    digest.update(chunk)
                out.flush()
                os.fsync(out.fileno())
        # URLError/HTTPError and socket timeouts are OSErrors; a malformed
        # URL or Content-Length is a ValueError; a dropped connection can
        # surface as an http.client exception.
        except (OSError, ValueError, http.client.HTTPException) as e:
            return f'{type(e).__name__}: {e}'
        if expected_size is not None and received != expected_size:
            return (f'incomplete download: got {received} of '
                    f'{expected_size} bytes')
        if md5 is not None and digest.hexdigest() != md5.lower():
            return (f'MD5 mismatch: expected {md5.lower()}, '
                    f'got {digest.hexdigest()}')
        os.replace(tmp_path, dest)
        fsync_dir(folder)
        return None
    finally:
        if osp.exists(tmp_path):
            os.remove(tmp_path)
