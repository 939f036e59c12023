"""Malicious and damaged checkpoints, a local HTTP server to serve them,
and a transform that poisons images, for the attack tests.

Every code-running payload would create the file ``sentinel`` it is built
for; the tests assert that the file never appears.
"""
import functools
import http.server
import io
import os
import re
import struct
import threading
import zipfile
from collections import OrderedDict
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, Iterator, Tuple

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.logging.history_buffer import HistoryBuffer
from mmpretrain.registry import TRANSFORMS


class _Reduce:
    """Pickles as ``func(*args)``, optionally followed by ``state``."""

    def __init__(self, func, args, state=None):
        self.func, self.args, self.state = func, args, state

    def __reduce__(self):
        if self.state is None:
            return self.func, self.args
        return self.func, self.args, self.state


class _CallableReduce(_Reduce):
    """A ``_Reduce`` that pickle accepts as the callable of another one (the
    result of unpickling it is then called)."""

    def __call__(self, *args):
        raise AssertionError('only ever pickled')


def _numpy_reconstruct():
    core = np._core if hasattr(np, '_core') else np.core
    return core.multiarray._reconstruct


def code_payloads(sentinel: Path) -> Dict[str, object]:
    """Objects whose unpickling creates ``sentinel``, by name."""
    command = f'touch {sentinel}'
    return {
        'os.system': _Reduce(os.system, (command, )),
        'builtins.eval': _Reduce(eval, (f'open({str(sentinel)!r}, "w")', )),
        'functools.partial': _Reduce(
            _CallableReduce(functools.partial, (os.system, command)), ()),
        'getattr chain': _Reduce(
            _CallableReduce(getattr, (_CallableReduce(
                __import__, ('os', )), 'system')), (command, )),
    }


def numpy_forgery() -> object:
    """An object-dtype numpy array whose data is 16 attacker-chosen bytes,
    read as two object pointers (0x4141414141414141): built from numpy
    names only (``_reconstruct``, ``ndarray``, ``dtype``). Freeing it
    dereferences the forged pointers."""
    return _Reduce(_numpy_reconstruct(), (np.ndarray, (0, ), b'b'),
                   (1, (2, ), np.dtype('O'), False, b'\x41' * 16))


def save_bytes(obj) -> bytes:
    """``torch.save(obj)`` as bytes."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def mmengine_legacy_checkpoint(state_dict: dict) -> bytes:
    """A checkpoint as mmengine writes it without mmcaps' plain format: a
    message hub with a ``HistoryBuffer`` of numpy arrays."""
    buffer = HistoryBuffer([0.5, 0.25], [1, 1])
    return save_bytes({
        'meta': {'epoch': 1, 'iter': 2},
        'state_dict': state_dict,
        'message_hub': {'log_scalars': {'train/loss': buffer},
                        'runtime_info': {}, 'resumed_keys': {}},
    })


def legacy_format(obj) -> bytes:
    """``torch.save`` in the pre-1.6 (non-zip) format."""
    buffer = io.BytesIO()
    torch.save(obj, buffer, _use_new_zipfile_serialization=False)
    return buffer.getvalue()


def rezip(data: bytes, edit=None, compress: bool = False) -> bytes:
    """Rewrite a torch zip checkpoint record by record: ``edit(name,
    content)`` returns a record's new content (None drops it), and
    ``compress`` deflates every record."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(
            out, 'w', zipfile.ZIP_DEFLATED
            if compress else zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            content = src.read(info.filename)
            if edit is not None:
                content = edit(info.filename, content)
            if content is not None:
                dst.writestr(info.filename, content)
    return out.getvalue()


def zip_bomb(state_dict_size: int = 1 << 24) -> bytes:
    """A checkpoint whose tensor record is deflated: 16 MiB of zeros in a
    few KiB (torch.save never compresses)."""
    return rezip(save_bytes({'w': torch.zeros(state_dict_size // 4)}),
                 compress=True)


def overlapping_records(copies: int = 50) -> bytes:
    """A stored (uncompressed) zip whose central directory lists its 1 MiB
    tensor record ``copies`` more times under other names: the records add
    up to 50 times the file, with no compression involved."""
    data = save_bytes({'w': torch.zeros(1 << 18)})
    eocd = data.rindex(b'PK\x05\x06')
    count, size, offset = struct.unpack('<H2L', data[eocd + 10:eocd + 20])
    directory = data[offset:offset + size]
    # Central directory entries: 46 fixed bytes (the name's length at 28),
    # then the name, the extra field and the comment.
    entries, pos = [], 0
    while pos < len(directory):
        name_len, extra_len, comment_len = struct.unpack(
            '<3H', directory[pos + 28:pos + 34])
        entries.append(directory[pos:pos + 46 + name_len + extra_len +
                                 comment_len])
        pos += 46 + name_len + extra_len + comment_len
    entry = next(e for e in entries
                 if e[46:46 + struct.unpack('<H', e[28:30])[0]].endswith(
                     b'/data/0'))
    name_len = struct.unpack('<H', entry[28:30])[0]
    name = entry[46:46 + name_len]
    copies_bytes = b''.join(
        entry[:28] + struct.pack('<H', name_len + 4) + entry[30:46] + name +
        b'_%03d' % i + entry[46 + name_len:] for i in range(copies))
    directory += copies_bytes
    end = data[eocd:eocd + 8] + struct.pack(
        '<2H2L', count + copies, count + copies, len(directory),
        offset) + data[eocd + 20:]
    return data[:offset] + directory + end


def short_storage(state_dict: dict) -> bytes:
    """A checkpoint whose tensor records hold half the bytes its pickle
    announces."""
    return rezip(
        save_bytes(state_dict), lambda name, content: content[:len(content) //
                                                              2]
        if re.search(r'/data/\d+$', name) else content)


def oversized_view() -> object:
    """A 1-million-element tensor view of a 4-element storage."""
    return _Reduce(torch._utils._rebuild_tensor_v2,
                   (torch.zeros(4).untyped_storage(), 0, (1 << 20, ),
                    (1, ), False, OrderedDict()))


def nested(depth: int) -> list:
    """A list nested ``depth`` levels deep."""
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves the server's folder under ``/files/``, and misbehaves under
    ``/bad-length/`` (a malformed ``Content-Length``), ``/short/`` (a
    ``Content-Length`` larger than the body) and ``/endless/N`` (N bytes
    without a ``Content-Length``)."""

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        kind, _, name = self.path.lstrip('/').partition('/')
        if kind == 'endless':
            self.send_response(200)
            self.end_headers()
            remaining = int(name)
            while remaining > 0:
                chunk = min(remaining, 1 << 16)
                self.wfile.write(b'\0' * chunk)
                remaining -= chunk
            return
        path = Path(self.server.folder, name)
        if kind not in ('files', 'bad-length', 'short') or not path.is_file():
            self.send_error(404)
            return
        body = path.read_bytes()
        self.send_response(200)
        length = {'files': str(len(body)), 'bad-length': '12abc',
                  'short': str(len(body) + 1000)}[kind]
        self.send_header('Content-Length', length)
        self.end_headers()
        self.wfile.write(body)


@contextmanager
def serve(folder: Path) -> Iterator[str]:
    """Serve ``folder`` on 127.0.0.1 from a thread (see ``_Handler``) for
    the duration of the ``with`` block; yields the base URL."""
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), _Handler)
    server.folder = str(folder)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever,
                              kwargs=dict(poll_interval=0.1), daemon=True)
    thread.start()
    try:
        yield f'http://127.0.0.1:{server.server_address[1]}'
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def write_payloads(folder: Path, sentinel: Path,
                   state_dict: dict) -> Dict[str, Tuple[Path, str]]:
    """Write one file per attack and bad checkpoint into ``folder``.

    Args:
        folder: Where to write them.
        sentinel: The file the code-running payloads would create.
        state_dict: The weights of the model under attack.

    Returns:
        By name: the file, and a regular expression the refusal must match.
    """
    folder.mkdir(parents=True, exist_ok=True)
    refused = r'Refusing to load .*{}.*Unpickling them could run code'
    files = {}
    for name, payload in code_payloads(sentinel).items():
        blob = save_bytes({'state_dict': state_dict, 'meta': payload})
        needs = {'os.system': 'posix.system', 'builtins.eval':
                 'builtins.eval', 'functools.partial': 'functools.partial',
                 'getattr chain': 'builtins.getattr'}[name]
        files[name] = (blob, refused.format(needs))
    files['numpy forgery'] = (
        save_bytes({'state_dict': state_dict, 'meta': numpy_forgery()}),
        refused.format(r'numpy\S*\._reconstruct.*numpy\.dtype'))
    files['mmengine HistoryBuffer'] = (
        mmengine_legacy_checkpoint(state_dict),
        refused.format(r'mmengine\.logging\.history_buffer\.HistoryBuffer'))
    real = save_bytes({'state_dict': state_dict})
    files['truncated'] = (real[:len(real) // 2],
                          r'not a complete PyTorch checkpoint: no zip '
                          r'archive found in its \d+ bytes')
    files['empty file'] = (b'', r'no zip archive found in its 0 bytes')
    files['legacy format'] = (legacy_format({'state_dict': state_dict}),
                              r'legacy checkpoint format of torch < 1\.6, '
                              r'which mmcaps loads only from trusted files')
    files['zip bomb'] = (zip_bomb(), r"record '.*' is compressed .* zip bomb")
    files['overlapping records'] = (
        overlapping_records(),
        r'its records announce \d+ bytes, more than the \d+ bytes of the '
        r'file')
    files['zip without data.pkl'] = (
        rezip(real, lambda name, content: None
              if name.endswith('data.pkl') else content),
        r'is a zip archive but not a PyTorch checkpoint: it has no '
        r'data\.pkl record')
    files['short storage'] = (short_storage({'w': torch.ones(64)}),
                              r'not a loadable PyTorch checkpoint: '
                              r'RuntimeError: .*size')
    files['oversized view'] = (save_bytes({'w': oversized_view()}),
                               r'not a loadable PyTorch checkpoint: '
                               r'RuntimeError: .*storage')
    written = {}
    for name, (blob, message) in files.items():
        path = folder / (name.replace(' ', '_').replace('.', '_') + '.pth')
        path.write_bytes(blob)
        written[name] = (path, message)
    return written


@TRANSFORMS.register_module()
class PoisonPixel(BaseTransform):
    """Turn an image into float32 with its first pixel set to ``value``
    (NaN or infinity): a bad input that uint8 files cannot hold but an
    upstream transform or dataset can produce."""

    def __init__(self, value: float) -> None:
        self.value = value

    def transform(self, results: dict) -> dict:
        img = np.array(results['img'], dtype=np.float32)
        img.flat[0] = self.value
        results['img'] = img
        return results
