"""The plain checkpoint format: what ``torch.load(weights_only=True)``
loads with torch's default allow-list.

mmengine 0.10.7 pickles Python objects into its checkpoints: the message
hub's ``HistoryBuffer``s (numpy arrays inside), numpy scalars among the
runtime information (``eta``), and whatever numpy values a dataset's
``metainfo`` holds. Loading those needs numpy's and mmengine's classes on
the allow-list, and numpy's dtype classes let a crafted pickle forge an
array whose data pointer it chooses. :func:`to_plain` stores them as
tensors and plain containers instead:

- a ``HistoryBuffer`` becomes ``{'_mmcaps_type': 'mmengine.HistoryBuffer',
  'log_history': tensor, 'count_history': tensor, 'max_length': int}``;
- a numpy array becomes ``{'_mmcaps_type': 'numpy.ndarray', 'data':
  tensor}`` (same dtype and shape);
- a numpy scalar becomes the equal Python number (or string);
- a ``collections.Counter`` (a ``MultiStepLR``'s milestones) becomes
  ``{'_mmcaps_type': 'collections.Counter', 'data': dict}``;

and :func:`from_plain` rebuilds the objects, bit for bit, so that a resumed
run logs what the uninterrupted one logged. ``PlainCheckpointHook`` applies
them to every checkpoint a Runner saves and loads.
"""
import copy
import os
from collections import Counter, OrderedDict
from typing import Any, Optional, Union

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer

from .checkpoint import BadCheckpointError, load_checkpoint_file
from .fileio import atomic_path

__all__ = [
    'PLAIN_TYPE_KEY', 'to_plain', 'from_plain', 'save_plain_checkpoint'
]

PLAIN_TYPE_KEY = '_mmcaps_type'
_ARRAY = 'numpy.ndarray'
_HISTORY_BUFFER = 'mmengine.HistoryBuffer'
_COUNTER = 'collections.Counter'
# Far deeper than any checkpoint; a crafted file nested deeper is refused
# before Python's recursion limit is reached.
_MAX_DEPTH = 100
_LEAF_TYPES = (str, bytes, int, float, complex, bool, type(None), torch.Size,
               torch.dtype, torch.device)
_DICT_TYPES = (dict, OrderedDict)
_SEQUENCE_TYPES = (list, tuple, set)


def _check_depth(depth: int, where: str, error: type) -> None:
    if depth > _MAX_DEPTH:
        raise error(f'{where} is nested more than {_MAX_DEPTH} levels deep')


def _array_to_tensor(array: np.ndarray, where: str) -> torch.Tensor:
    try:
        return torch.from_numpy(
            np.ascontiguousarray(
                array, dtype=array.dtype.newbyteorder('=')).copy())
    except TypeError:
        raise TypeError(
            f'{where} is a numpy array of dtype {array.dtype}, which a '
            'tensor cannot hold, so the checkpoint could only be loaded '
            'with numpy on the unpickler\'s allow-list; store numbers '
            'instead.') from None


def _key_to_plain(key: Any, where: str) -> Any:
    if isinstance(key, np.generic):
        key = key.item()
    if type(key) in _LEAF_TYPES or (type(key) is tuple and all(
            type(k) in _LEAF_TYPES for k in key)):
        return key
    raise TypeError(f'{where} has a key of type {type(key).__qualname__} '
                    f'({key!r}), which torch.load(weights_only=True) '
                    'cannot load')


def _to_plain(obj: Any, where: str, depth: int) -> Any:
    _check_depth(depth, where, TypeError)
    kind = type(obj)
    if kind in _LEAF_TYPES or kind in (torch.Tensor, torch.nn.Parameter):
        return obj
    if isinstance(obj, np.generic) and type(obj.item()) in _LEAF_TYPES:
        return obj.item()
    if isinstance(obj, np.ndarray):
        return {PLAIN_TYPE_KEY: _ARRAY, 'data': _array_to_tensor(obj, where)}
    if isinstance(obj, HistoryBuffer):
        log_history, count_history = obj.data
        return {
            PLAIN_TYPE_KEY: _HISTORY_BUFFER,
            'log_history': _array_to_tensor(log_history, where),
            'count_history': _array_to_tensor(count_history, where),
            'max_length': int(obj.max_length),
        }
    if kind is Counter:
        return {PLAIN_TYPE_KEY: _COUNTER,
                'data': _to_plain(dict(obj), where, depth + 1)}
    if kind in _DICT_TYPES:
        changed = {}
        for key, value in obj.items():
            inner = f'{where}[{key!r}]'
            plain_key = _key_to_plain(key, where)
            plain_value = _to_plain(value, inner, depth + 1)
            if plain_key is not key or plain_value is not value:
                changed[key] = (plain_key, plain_value)
        if not changed:
            return obj
        # A shallow copy keeps the dict's type and attributes (a state
        # dict's ``_metadata``); the input may be live state (an
        # optimizer's), so it is never modified.
        plain = copy.copy(obj)
        plain.clear()
        for key, value in obj.items():
            plain_key, plain_value = changed.get(key, (key, value))
            plain[plain_key] = plain_value
        return plain
    if kind in _SEQUENCE_TYPES:
        items = [
            _to_plain(item, f'{where}[{i}]', depth + 1)
            for i, item in enumerate(obj)
        ]
        if all(new is old for new, old in zip(items, obj)):
            return obj
        return kind(items)
    raise TypeError(
        f'{where} is a {kind.__module__}.{kind.__qualname__}, which '
        'torch.load(weights_only=True) cannot load without putting that '
        'class on its allow-list; mmcaps checkpoints hold only tensors, '
        'numbers, strings, and lists, tuples and dicts of them.')


def to_plain(obj: Any, where: str = 'checkpoint') -> Any:
    """``obj`` with every ``HistoryBuffer``, numpy array and numpy scalar
    replaced by its plain form (see the module docstring).

    Containers that hold nothing to replace are returned as they are, the
    others are copied: ``obj`` itself is never modified.

    Args:
        obj: A checkpoint, or part of one.
        where: How to name ``obj`` in error messages.

    Returns:
        An object that ``torch.load(weights_only=True)`` loads back.

    Raises:
        TypeError: Something that has no plain form (the message names
            where it is, e.g. ``checkpoint['meta']['x']``, and its type).
    """
    return _to_plain(obj, where, 0)


def _tensor_to_array(value: Any,
                     where: str,
                     ndim: Optional[int] = None) -> np.ndarray:
    if not isinstance(value, torch.Tensor) or (ndim is not None
                                               and value.dim() != ndim):
        shape = f'a {ndim}-D tensor' if ndim is not None else 'a tensor'
        raise BadCheckpointError(f'{where} should be {shape}, got '
                                 f'{type(value).__name__} {value!r:.80}')
    try:
        return value.detach().cpu().numpy()
    except TypeError:
        raise BadCheckpointError(
            f'{where} has dtype {value.dtype}, which numpy cannot hold'
        ) from None


def _rebuild(obj: dict, where: str) -> Any:
    kind = obj[PLAIN_TYPE_KEY]
    fields = {
        _ARRAY: {'data'},
        _COUNTER: {'data'},
        _HISTORY_BUFFER: {'log_history', 'count_history', 'max_length'},
    }.get(kind)
    if fields is None:
        raise BadCheckpointError(f'{where} has an unknown {PLAIN_TYPE_KEY} '
                                 f'{kind!r:.80}')
    if set(obj) != fields | {PLAIN_TYPE_KEY}:
        raise BadCheckpointError(
            f'{where}: a plain {kind} has the fields {sorted(fields)}, got '
            f'{sorted(map(str, set(obj) - {PLAIN_TYPE_KEY}))}')
    if kind == _ARRAY:
        return _tensor_to_array(obj['data'], f'{where}["data"]')
    if kind == _COUNTER:
        data = obj['data']
        if type(data) is not dict or not all(
                type(v) is int for v in data.values()):
            raise BadCheckpointError(f'{where}["data"] should be a dict of '
                                     f'int counts, got {data!r:.80}')
        return Counter(data)
    log_history = _tensor_to_array(obj['log_history'],
                                   f'{where}["log_history"]', ndim=1)
    count_history = _tensor_to_array(obj['count_history'],
                                     f'{where}["count_history"]', ndim=1)
    max_length = obj['max_length']
    if type(max_length) is not int or max_length <= 0:
        raise BadCheckpointError(f'{where}["max_length"] should be a '
                                 f'positive int, got {max_length!r:.80}')
    if len(log_history) != len(count_history):
        raise BadCheckpointError(
            f'{where}: {len(log_history)} logged values but '
            f'{len(count_history)} counts')
    return HistoryBuffer(log_history, count_history, max_length)


def _from_plain(obj: Any, where: str, depth: int) -> Any:
    _check_depth(depth, where, BadCheckpointError)
    kind = type(obj)
    if kind in _DICT_TYPES:
        if PLAIN_TYPE_KEY in obj:
            return _rebuild(obj, where)
        changed = {
            key: new
            for key, value in obj.items()
            if (new := _from_plain(value, f'{where}[{key!r:.80}]',
                                   depth + 1)) is not value
        }
        if not changed:
            return obj
        plain = copy.copy(obj)
        plain.update(changed)
        return plain
    if kind in (list, tuple):
        items = [
            _from_plain(item, f'{where}[{i}]', depth + 1)
            for i, item in enumerate(obj)
        ]
        if all(new is old for new, old in zip(items, obj)):
            return obj
        return kind(items)
    return obj


def from_plain(obj: Any, where: str = 'checkpoint') -> Any:
    """The inverse of :func:`to_plain`: ``obj`` with the plain forms of
    ``HistoryBuffer``s and numpy arrays rebuilt (numpy scalars stay Python
    numbers). ``obj`` itself is never modified.

    Args:
        obj: A loaded checkpoint, or part of one.
        where: How to name ``obj`` in error messages.

    Raises:
        BadCheckpointError: A malformed plain form, or nesting deeper than
            any checkpoint (a crafted file); the message says where.
    """
    return _from_plain(obj, where, 0)


def save_plain_checkpoint(checkpoint: Union[str, os.PathLike, dict],
                          dst: str,
                          trusted: bool = False) -> str:
    """Write a checkpoint in the plain format, e.g. to convert one written
    by mmengine without ``PlainCheckpointHook`` into one that loads without
    trust.

    Args:
        checkpoint: A checkpoint, or a path or URL to load it from with
            :func:`~mmcaps.utils.load_checkpoint_file`.
        dst: The file to write (atomically, flushed to disk).
        trusted: Passed to :func:`~mmcaps.utils.load_checkpoint_file`: an
            mmengine checkpoint with ``HistoryBuffer``s only loads as a
            trusted file, so pass True for files you trust.

    Returns:
        ``dst``.

    Raises:
        TypeError: The checkpoint holds something with no plain form.
    """
    if not isinstance(checkpoint, dict):
        checkpoint = load_checkpoint_file(
            checkpoint, map_location='cpu', trusted=trusted)
    plain = to_plain(checkpoint)
    with atomic_path(dst) as tmp:
        torch.save(plain, tmp)
    return dst
