"""One safe loader for every checkpoint mmcaps reads.

A checkpoint is a pickle, and unpickling runs whatever functions the file
names, so a checkpoint from elsewhere is untrusted input. Every load goes
through :func:`load_checkpoint_file`, which

- always calls ``torch.load(weights_only=True)``, whose unpickler builds
  tensors and plain containers only, with the allow-list built into it:
  globals that code in the process added with
  ``torch.serialization.add_safe_globals`` (torch's own modules add some,
  other libraries may add numpy's) are set aside during the load; numpy's
  dtype classes, for one, let a pickle forge arrays whose data pointer it
  chooses;
- accepts only the zip archives ``torch.save`` writes, with uncompressed
  records no larger than the file (so neither a zip bomb nor a header
  announcing more data than the file holds gets as far as the unpickler);
- downloads URLs itself (into torch.hub's cache, atomically, with a size
  limit and timeouts) and loads the file like a local one: mmengine's URL
  loader goes through ``torch.hub.load_state_dict_from_url``, which
  unpickles with ``weights_only=False``;
- refuses a checkpoint that needs more than tensors with
  :class:`UnsafeCheckpointError`, naming every global it needs and the
  opt-in for trusted files: ``MMCAPS_TRUSTED_CHECKPOINTS`` (the files'
  paths, separated like ``PATH``) or ``trusted=True``;
- needs torch >= 2.10 for untrusted files: older ``weights_only``
  unpicklers have published bypasses (CVE-2025-32434, fixed in 2.6;
  CVE-2026-24747, fixed in 2.10).

:func:`register_checkpoint_loader` (run by ``import mmcaps``) puts it in
mmengine's ``CheckpointLoader`` for every scheme mmengine defines, so
``Runner`` resume and ``load_from``, ``mmengine.runner.load_checkpoint``,
``init_cfg=dict(type='Pretrained')``, mmpretrain's ``get_model`` and its
inferencers all use it. :func:`load_model_weights` loads a checkpoint into
a model and fails unless the weights fit it exactly.

mmcaps' own checkpoints need no trust: :mod:`mmcaps.utils.plain_checkpoint`
stores what mmengine would pickle as Python objects as tensors and plain
containers instead.
"""
import io
import logging
import os
import os.path as osp
import pickle
import re
import urllib.parse
import zipfile
from collections import OrderedDict
from contextlib import contextmanager
from tempfile import TemporaryDirectory
from typing import (Any, BinaryIO, Callable, Dict, Iterator, List, Optional,
                    Sequence, Tuple, Union)

import torch
import torch.nn as nn
from mmengine.dist import barrier, get_dist_info
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.runner.checkpoint import CheckpointLoader, load_state_dict
from mmengine.utils import digit_version

from .fileio import download_file

__all__ = [
    'TRUSTED_CHECKPOINTS_ENV', 'MAX_DOWNLOAD_BYTES', 'UnsafeCheckpointError',
    'BadCheckpointError', 'trusted_checkpoints', 'load_checkpoint_file',
    'download_checkpoint', 'register_checkpoint_loader', 'load_model_weights'
]

TRUSTED_CHECKPOINTS_ENV = 'MMCAPS_TRUSTED_CHECKPOINTS'
# The largest checkpoint downloaded from a URL; download larger ones
# yourself and pass the path.
MAX_DOWNLOAD_BYTES = 4 << 30
_MIN_SAFE_TORCH = '2.10.0'
_GUIDE = 'docs/en/advanced_guides/checkpoint_safety.md'
_MAX_KEYS_SHOWN = 10
# How a checkpoint of the pre-1.6 format starts: pickle protocol 2, then
# torch's magic number as a 10-byte long.
_LEGACY_MAGIC = b'\x80\x02\x8a\x0a' + (
    0x1950a86a20f9469cfc6c).to_bytes(10, 'little')

MapLocation = Union[None, str, torch.device, Callable, Dict[str, str]]


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint needs Python objects beyond tensors and plain
    containers; unpickling them could run code from the file."""


class BadCheckpointError(ValueError):
    """A checkpoint is truncated, corrupt, not in torch's zip format, or
    does not hold what it should."""


def trusted_checkpoints() -> List[str]:
    """The real paths of the files ``MMCAPS_TRUSTED_CHECKPOINTS`` lists
    (separated by ``os.pathsep``, like ``PATH``; relative paths are taken
    from the current directory)."""
    value = os.environ.get(TRUSTED_CHECKPOINTS_ENV, '')
    return [
        osp.realpath(osp.expanduser(entry))
        for entry in value.split(os.pathsep) if entry
    ]


def _is_trusted(path: str) -> bool:
    return osp.realpath(path) in trusted_checkpoints()


@contextmanager
def _default_allow_list() -> Iterator[None]:
    """Set aside the globals added with ``add_safe_globals`` (by anyone,
    torch's own modules included) for the duration of a load, leaving the
    allow-list built into torch's unpickler.

    Globals registered meanwhile (a module imported during the load) are
    kept. Not thread-safe: a concurrent ``torch.load`` relying on the added
    globals fails meanwhile.
    """
    added = torch.serialization.get_safe_globals()
    torch.serialization.clear_safe_globals()
    try:
        yield
    finally:
        meanwhile = torch.serialization.get_safe_globals()
        torch.serialization.clear_safe_globals()
        torch.serialization.add_safe_globals(
            added + [g for g in meanwhile if g not in added])


def _check_zip_archive(f: BinaryIO, name: str) -> None:
    """Refuse anything but an archive ``torch.save`` could have written.

    Raises:
        BadCheckpointError: Not a complete zip archive, a compressed
            record, records adding up to more than the file, or no
            ``data.pkl``.
    """
    size = f.seek(0, io.SEEK_END)
    f.seek(0)
    head = f.read(len(_LEGACY_MAGIC))
    f.seek(0)
    if head == _LEGACY_MAGIC:
        raise BadCheckpointError(
            f'{name} is in the legacy checkpoint format of torch < 1.6, '
            'which mmcaps loads only from trusted files: unlike the zip '
            'format, it cannot be checked before unpickling (a forged '
            'storage size makes torch allocate any amount of memory). '
            'Re-save it with a current torch from a trusted session, or '
            f'trust it (see {_GUIDE}).')
    if not zipfile.is_zipfile(f):
        raise BadCheckpointError(
            f'{name} is not a complete PyTorch checkpoint: no zip archive '
            f'found in its {size} bytes (truncated, corrupt, or not a '
            'checkpoint).')
    try:
        with zipfile.ZipFile(f) as archive:
            records = archive.infolist()
    except (zipfile.BadZipFile, ValueError, EOFError) as e:
        raise BadCheckpointError(
            f'{name} is not a complete PyTorch checkpoint: its zip '
            f'directory is corrupt ({e}).') from None
    finally:
        f.seek(0)
    for record in records:
        if record.compress_type != zipfile.ZIP_STORED:
            raise BadCheckpointError(
                f'{name}: record {record.filename!r} is compressed '
                f'({record.compress_size} bytes expanding to '
                f'{record.file_size}); torch.save stores records '
                'uncompressed, so this archive is not a checkpoint torch '
                'wrote (a compressed record can expand far beyond the file: '
                'a zip bomb).')
    total = sum(record.file_size for record in records)
    if total > size:
        raise BadCheckpointError(
            f'{name}: its records announce {total} bytes, more than the '
            f'{size} bytes of the file (overlapping or forged records).')
    if not any(record.filename == 'data.pkl'
               or record.filename.endswith('/data.pkl')
               for record in records):
        raise BadCheckpointError(
            f'{name} is a zip archive but not a PyTorch checkpoint: it has '
            'no data.pkl record.')


def _needed_globals(f: BinaryIO, error: Exception) -> List[str]:
    """Every global the checkpoint's pickle names beyond torch's default
    allow-list, found without running it, plus the one ``error`` (torch's
    refusal) names."""
    try:
        f.seek(0)
        names = torch.serialization.get_unsafe_globals_in_checkpoint(f)
    except Exception:  # noqa: BLE001 - the refusal still names one
        names = []
    # The static scan misses names the pickle builds at run time; torch
    # names the first one it refused (by its short name for builtins).
    refused = re.findall(
        r'GLOBAL ([\w.]+) (?:was not an allowed global|whose module)',
        str(error))
    names += [
        name for name in refused
        if not any(known.split('.')[-1] == name.split('.')[-1]
                   for known in names)
    ]
    return sorted(set(names))


def _refusal(name: str, needed: Sequence[str], trust_path: str) -> str:
    return (
        f'Refusing to load {name}: it needs Python objects beyond tensors '
        f'and plain containers, which torch.load(weights_only=True) does '
        f'not build: {", ".join(needed)}. Unpickling them could run code '
        'from the file. If you trust this file (you made it, or it comes '
        'from a source you trust), load it deliberately: list it in '
        f'{TRUSTED_CHECKPOINTS_ENV} (e.g. {TRUSTED_CHECKPOINTS_ENV}='
        f'{trust_path}; paths separated by {os.pathsep!r}) or pass '
        'trusted=True to mmcaps.utils.load_checkpoint_file; to convert it '
        'into a checkpoint that needs no trust, use '
        f'mmcaps.utils.save_plain_checkpoint. See {_GUIDE}.')


def _torch_load(f: BinaryIO, name: str, map_location: MapLocation,
                trusted: bool, trust_path: str) -> Any:
    """``torch.load`` one opened checkpoint, safely unless ``trusted``.

    Args:
        f: The checkpoint, opened for binary reading (seekable).
        name: The file or URL it came from, for messages.
        map_location: As for ``torch.load``.
        trusted: Load with ``weights_only=False`` (runs any code the file
            holds).
        trust_path: The path to show in the opt-in hint.
    """
    if trusted:
        print_log(
            f'Loading {name} as a trusted checkpoint (weights_only=False): '
            'any code it holds runs.',
            logger='current',
            level=logging.WARNING)
        return torch.load(f, map_location=map_location, weights_only=False)
    if digit_version(torch.__version__) < digit_version(_MIN_SAFE_TORCH):
        raise RuntimeError(
            f'mmcaps loads untrusted checkpoints only with torch >= '
            f'{_MIN_SAFE_TORCH}: the weights_only unpickler of torch '
            f'{torch.__version__} has published bypasses (CVE-2025-32434, '
            'CVE-2026-24747). Upgrade torch, or, if you trust '
            f'{name}, list it in {TRUSTED_CHECKPOINTS_ENV} (see {_GUIDE}).')
    _check_zip_archive(f, name)
    with _default_allow_list():
        try:
            return torch.load(
                f, map_location=map_location, weights_only=True)
        except pickle.UnpicklingError as e:
            needed = _needed_globals(f, e)
            if needed:
                raise UnsafeCheckpointError(
                    _refusal(name, needed, trust_path)) from None
            raise BadCheckpointError(
                f'{name} is not a loadable checkpoint: its pickle is '
                f'malformed or uses what weights_only=True refuses '
                f'({_unpickler_reason(e)}).') from None
        except (RuntimeError, ValueError, EOFError, OSError, KeyError,
                IndexError, TypeError, AttributeError,
                UnicodeDecodeError) as e:
            raise BadCheckpointError(
                f'{name} is not a loadable PyTorch checkpoint: '
                f'{type(e).__name__}: {e}') from None


def _unpickler_reason(error: pickle.UnpicklingError) -> str:
    """The part of torch's refusal that says what was wrong, without its
    advice to turn the check off."""
    lines = [
        line.strip() for line in str(error).splitlines()
        if line.strip() and not line.startswith(('Weights only load failed',
                                                 'Check the documentation'))
    ]
    return ' '.join(lines) or str(error)


def _load_local(filename: str, map_location: MapLocation,
                trusted: bool) -> Any:
    path = osp.expanduser(filename)
    if not osp.isfile(path):
        raise FileNotFoundError(f'Checkpoint not found: {path}')
    with open(path, 'rb') as f:
        return _torch_load(f, path, map_location,
                           trusted or _is_trusted(path), osp.abspath(path))


def download_checkpoint(url: str,
                        model_dir: Optional[str] = None,
                        max_bytes: int = MAX_DOWNLOAD_BYTES,
                        timeout: float = 60.0) -> str:
    """Download a checkpoint into a cache folder, unless it is there.

    The file is written to a temporary name beside its final one, flushed
    to disk and renamed only once complete, so the cache never holds a
    partial checkpoint. In distributed runs rank 0 downloads first, and the
    other ranks then find it (or, on other machines, download it too).

    Args:
        url: An ``http://`` or ``https://`` URL whose path ends in the file
            name.
        model_dir: The cache folder; defaults to torch.hub's
            ``<hub dir>/checkpoints``.
        max_bytes: The largest file accepted.
        timeout: Socket timeout in seconds for connecting and each read.

    Returns:
        The path of the cached file.

    Raises:
        ValueError: The URL names no file.
        RuntimeError: The download failed (the reason is in the message).
    """
    filename = osp.basename(urllib.parse.urlparse(url).path)
    if filename in ('', '.', '..'):
        raise ValueError(f'Cannot download a checkpoint from {url}: its '
                         'path names no file')
    if model_dir is None:
        model_dir = osp.join(torch.hub.get_dir(), 'checkpoints')
    dest = osp.join(model_dir, filename)

    def fetch() -> None:
        if not osp.isfile(dest):
            download_file(url, dest, timeout=timeout, max_bytes=max_bytes)

    rank, world_size = get_dist_info()
    if rank == 0:
        try:
            fetch()
        finally:
            # Reached even when rank 0 fails, so the other ranks do not
            # wait forever.
            if world_size > 1:
                barrier()
    else:
        barrier()
        fetch()
    return dest


def _load_url(url: str, map_location: MapLocation, trusted: bool) -> Any:
    return _load_local(download_checkpoint(url), map_location, trusted)


def _load_torchvision(filename: str, map_location: MapLocation,
                      trusted: bool) -> Any:
    from mmengine.runner.checkpoint import get_torchvision_models
    name = filename.split('://', 1)[1]
    urls = get_torchvision_models()
    if name not in urls:
        raise KeyError(f'{filename}: torchvision has no model {name!r}')
    return _load_url(urls[name], map_location, trusted)


def _load_openmmlab(filename: str, map_location: MapLocation,
                    trusted: bool) -> Any:
    from mmengine.runner.checkpoint import (_get_mmengine_home,
                                            get_deprecated_model_names,
                                            get_external_models)
    name = filename.split('://', 1)[1]
    name = get_deprecated_model_names().get(name, name)
    urls = get_external_models()
    if name not in urls:
        raise KeyError(f'{filename}: OpenMMLab lists no model {name!r}')
    if urls[name].startswith(('http://', 'https://')):
        return _load_url(urls[name], map_location, trusted)
    return _load_local(
        osp.join(_get_mmengine_home(), urls[name]), map_location, trusted)


def _load_mmcls(filename: str, map_location: MapLocation,
                trusted: bool) -> Any:
    from mmengine.runner.checkpoint import (_process_mmcls_checkpoint,
                                            get_mmcls_models)
    name = filename.split('://', 1)[1]
    urls = get_mmcls_models()
    if name not in urls:
        raise KeyError(f'{filename}: mmcls lists no model {name!r}')
    return _process_mmcls_checkpoint(
        _load_url(urls[name], map_location, trusted))


def _load_pavi(filename: str, map_location: MapLocation,
               trusted: bool) -> Any:
    try:
        from pavi import modelcloud
    except ImportError:
        raise ImportError(
            'Please install pavi to load checkpoints from modelcloud.'
        ) from None
    model = modelcloud.get(filename[len('pavi://'):])
    with TemporaryDirectory() as tmp_dir:
        path = osp.join(tmp_dir, model.name)
        model.download(path)
        with open(path, 'rb') as f:
            return _torch_load(f, filename, map_location, trusted, path)


def _load_ceph(filename: str, map_location: MapLocation,
               trusted: bool) -> Any:
    from mmengine.fileio import get_file_backend
    backend = get_file_backend(filename, backend_args={'backend': 'petrel'})
    with io.BytesIO(backend.get(filename)) as f:
        return _torch_load(f, filename, map_location, trusted, filename)


# mmengine's schemes (regular expressions matched at the start of the
# name) and their loaders; anything else is a local path.
_SCHEMES: Tuple[Tuple[Tuple[str, ...], Callable], ...] = (
    (('http://', 'https://'), _load_url),
    (('modelzoo://', 'torchvision://'), _load_torchvision),
    (('open-mmlab://', 'openmmlab://'), _load_openmmlab),
    (('mmcls://', ), _load_mmcls),
    (('pavi://', ), _load_pavi),
    ((r'(\S+\:)?s3://', r'(\S+\:)?petrel://'), _load_ceph),
)


def load_checkpoint_file(filename: Union[str, os.PathLike],
                         map_location: MapLocation = None,
                         trusted: bool = False) -> Any:
    """Load a checkpoint from a local path, a URL or an mmengine scheme
    (``torchvision://``, ``open-mmlab://``, ``mmcls://``, ``pavi://``,
    ``s3://``), with ``torch.load(weights_only=True)`` and torch's default
    allow-list.

    Args:
        filename: Where the checkpoint is.
        map_location: As for ``torch.load``.
        trusted: Load with ``weights_only=False``: only for files from a
            source you trust, as any code they hold runs. Local files (and
            the cached downloads of URLs) listed in
            ``MMCAPS_TRUSTED_CHECKPOINTS`` are trusted too.

    Returns:
        What the checkpoint holds.

    Raises:
        FileNotFoundError: No such local file.
        UnsafeCheckpointError: It needs globals outside torch's default
            allow-list (the message lists them and how to opt in).
        BadCheckpointError: It is truncated, corrupt or not in torch's zip
            format.
        RuntimeError: A download failed, or torch is older than 2.10 and
            the file is not trusted.
    """
    filename = os.fspath(filename)
    for prefixes, loader in _SCHEMES:
        if any(re.match(prefix, filename) for prefix in prefixes):
            return loader(filename, map_location, trusted)
    return _load_local(filename, map_location, trusted)


def _mmengine_loader(loader: Callable) -> Callable:
    """``loader`` with the signature of mmengine's scheme loaders; trust
    comes from ``MMCAPS_TRUSTED_CHECKPOINTS`` only."""

    def load(filename: str, map_location: MapLocation = None) -> Any:
        return loader(filename, map_location, False)

    # mmengine logs the loader's name minus its first 10 characters.
    load.__name__ = f'load_from_{loader.__name__[len("_load_"):]}'
    return load


def register_checkpoint_loader() -> None:
    """Make mmengine's ``CheckpointLoader`` load every scheme it defines
    (local paths included) with :func:`load_checkpoint_file`'s loaders."""
    CheckpointLoader.register_scheme(
        '', _mmengine_loader(_load_local), force=True)
    for prefixes, loader in _SCHEMES:
        CheckpointLoader.register_scheme(
            list(prefixes), _mmengine_loader(loader), force=True)


def _shown(keys: Sequence[str]) -> str:
    shown = ', '.join(keys[:_MAX_KEYS_SHOWN])
    more = len(keys) - _MAX_KEYS_SHOWN
    return shown + (f' and {more} more' if more > 0 else '')


def _check_fit(model: nn.Module, state_dict: Dict[str, torch.Tensor],
               source: str) -> None:
    """Raise ``BadCheckpointError`` naming the keys that do not fit."""
    expected = model.state_dict()
    missing = [key for key in expected if key not in state_dict]
    unexpected = [key for key in state_dict if key not in expected]
    wrong_shape = [
        f'{key} (checkpoint {tuple(value.shape)}, model '
        f'{tuple(expected[key].shape)})'
        for key, value in state_dict.items()
        if key in expected and value.shape != expected[key].shape
    ]
    problems = []
    if missing:
        problems.append(f'{len(missing)} of the model\'s {len(expected)} '
                        f'weights are missing from it: {_shown(missing)}')
    if unexpected:
        problems.append(f'{len(unexpected)} of its {len(state_dict)} '
                        f'weights are not in the model: {_shown(unexpected)}')
    if wrong_shape:
        verb = 'has' if len(wrong_shape) == 1 else 'have'
        problems.append(f'{len(wrong_shape)} of its weights {verb} the '
                        f'wrong shape: {_shown(wrong_shape)}')
    if problems:
        raise BadCheckpointError(
            f'Checkpoint {source} does not fit the {type(model).__name__} '
            f'of the config: {"; ".join(problems)}. Use a checkpoint '
            'trained with this config.')


def load_model_weights(
    model: nn.Module,
    checkpoint: Union[str, os.PathLike, dict],
    strict: bool = True,
    map_location: MapLocation = 'cpu',
    revise_keys: Sequence[Tuple[str, str]] = ((r'^module\.', ''), ),
    trusted: bool = False,
) -> dict:
    """Load a checkpoint's weights into ``model``, refusing weights that do
    not fit it.

    Args:
        model: The model, or a model wrapper (such as DDP) around it.
        checkpoint: A path or URL for :func:`load_checkpoint_file`, or a
            checkpoint already loaded: a dict with a ``state_dict`` entry,
            or the state dict itself.
        strict: Require the weights to cover the model exactly: same names
            and shapes, none missing and none left over. With False, the
            matching weights are loaded and the others reported in a
            warning (for a partial fit the config asks for).
        map_location: As for ``torch.load``.
        revise_keys: ``(pattern, replacement)`` regular expressions applied
            to the checkpoint's weight names first; by default the
            ``module.`` prefix of weights saved from a wrapper is dropped.
        trusted: Passed to :func:`load_checkpoint_file`.

    Returns:
        The checkpoint, e.g. for its ``meta``.

    Raises:
        BadCheckpointError: No state dict, an entry that is not a tensor,
            weights that do not fit (``strict``; the message names the
            missing, unexpected and mis-shaped weights) or a parameter
            holding NaN or infinity.
    """
    if is_model_wrapper(model):
        model = model.module
    if isinstance(checkpoint, dict):
        source, loaded = 'given as a dict', checkpoint
    else:
        source = os.fspath(checkpoint)
        loaded = load_checkpoint_file(source, map_location, trusted)
    if not isinstance(loaded, dict):
        raise BadCheckpointError(
            f'Checkpoint {source} holds a {type(loaded).__name__}, not a '
            'dict of weights.')
    state_dict = loaded.get('state_dict', loaded)
    if not isinstance(state_dict, dict):
        raise BadCheckpointError(
            f'Checkpoint {source}: its state_dict is a '
            f'{type(state_dict).__name__}, not a dict of weights.')
    not_tensors = [
        str(key) for key, value in state_dict.items()
        if not isinstance(value, torch.Tensor)
    ]
    if not_tensors:
        raise BadCheckpointError(
            f'Checkpoint {source}: these state_dict entries are not tensors: '
            f'{_shown(not_tensors)}.')
    revised = OrderedDict()
    for key, value in state_dict.items():
        for pattern, replacement in revise_keys:
            key = re.sub(pattern, replacement, key)
        revised[key] = value
    if strict:
        _check_fit(model, revised, source)
    parameters = dict(model.named_parameters())
    non_finite = [
        key for key, value in revised.items()
        if key in parameters and value.is_floating_point()
        and not torch.isfinite(value).all()
    ]
    if non_finite:
        raise BadCheckpointError(
            f'Checkpoint {source}: these weights hold NaN or infinity: '
            f'{_shown(non_finite)}. The run that saved it diverged, or the '
            'file is damaged.')
    if strict:
        model.load_state_dict(revised, strict=True)
    else:
        load_state_dict(model, revised, strict=False)
    return loaded
