"""The plain checkpoint format, the safe loader's opt-ins and version
check, load_model_weights, and durable file writes."""
import os
from collections import Counter, OrderedDict

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.logging.history_buffer import HistoryBuffer

import mmcaps.utils.checkpoint as checkpoint_module
import mmcaps.utils.fileio as fileio
from mmcaps.utils import (PLAIN_TYPE_KEY, BadCheckpointError,
                          UnsafeCheckpointError, atomic_path, download_file,
                          from_plain, load_checkpoint_file,
                          load_model_weights, save_plain_checkpoint,
                          to_plain)


def mmengine_like_checkpoint() -> dict:
    """What mmengine 0.10.7 puts in a checkpoint beyond tensors."""
    state_dict = OrderedDict(w=torch.arange(3.0))
    state_dict._metadata = OrderedDict({'': {'version': 1}})
    loss = HistoryBuffer([0.75, 0.5], [1, 2], max_length=10)
    return {
        'meta': {'epoch': 1, 'dataset_meta': {'classes': ('a', 'b'),
                                              'palette': np.eye(2)}},
        'state_dict': state_dict,
        'message_hub': {
            'log_scalars': {'train/loss': loss},
            'runtime_info': {'eta': np.float64(12.5), 'iter': 3,
                             np.int64(7): 'numpy key'},
            'resumed_keys': {'train/loss': True},
        },
    }


def save_load(obj, tmp_path):
    path = tmp_path / 'plain.pth'
    torch.save(obj, path)
    return load_checkpoint_file(path)


def test_plain_form_loads_without_trust_and_rebuilds_exactly(tmp_path):
    original = mmengine_like_checkpoint()
    plain = to_plain(original)
    loaded = save_load(plain, tmp_path)
    hub = loaded['message_hub']
    entry = hub['log_scalars']['train/loss']
    assert entry[PLAIN_TYPE_KEY] == 'mmengine.HistoryBuffer'
    assert entry['max_length'] == 10
    assert entry['log_history'].dtype == torch.float64
    assert entry['log_history'].tolist() == [0.75, 0.5]
    assert entry['count_history'].tolist() == [1, 2]
    assert hub['runtime_info']['eta'] == 12.5
    assert type(hub['runtime_info']['eta']) is float
    assert hub['runtime_info'][7] == 'numpy key'
    rebuilt = from_plain(loaded)
    buffer = rebuilt['message_hub']['log_scalars']['train/loss']
    assert isinstance(buffer, HistoryBuffer) and buffer.max_length == 10
    log, count = buffer.data
    assert log.dtype == np.float64 and log.tolist() == [0.75, 0.5]
    assert count.tolist() == [1, 2]
    palette = rebuilt['meta']['dataset_meta']['palette']
    assert isinstance(palette, np.ndarray)
    np.testing.assert_array_equal(palette, np.eye(2))
    assert rebuilt['meta']['dataset_meta']['classes'] == ('a', 'b')
    # The state dict keeps its type and metadata through both directions.
    assert type(rebuilt['state_dict']) is OrderedDict
    assert rebuilt['state_dict']._metadata == {'': {'version': 1}}
    # The input was not modified.
    assert isinstance(original['message_hub']['log_scalars']['train/loss'],
                      HistoryBuffer)
    assert type(original['message_hub']['runtime_info']['eta']) is np.float64


def test_plain_counter_is_rebuilt_as_a_counter(tmp_path):
    # MultiStepLR keeps its milestones in a Counter.
    state = {'milestones': Counter({30: 1, 60: 2}), 'gamma': 0.1}
    loaded = save_load(to_plain({'param_schedulers': [state]}), tmp_path)
    rebuilt = from_plain(loaded)['param_schedulers'][0]
    assert type(rebuilt['milestones']) is Counter
    assert rebuilt == state
    with pytest.raises(BadCheckpointError, match='should be a dict of int'):
        from_plain({PLAIN_TYPE_KEY: 'collections.Counter',
                    'data': {1: 'x'}})


def test_plain_history_buffer_statistics_survive(tmp_path):
    buffer = HistoryBuffer([1.0, 2.0, 4.0], [1, 1, 2])
    rebuilt = from_plain(save_load(to_plain({'b': buffer}), tmp_path))['b']
    for stat in ('mean', 'min', 'max', 'current'):
        assert rebuilt.statistics(stat) == buffer.statistics(stat), stat
    assert rebuilt.mean(2) == buffer.mean(2)


@pytest.mark.parametrize('value,message', [
    (lambda: 0, r"checkpoint\['meta'\]\['f'\] is a builtins.function"),
    (np.array(['a', 'b'], dtype=object),
     r"checkpoint\['meta'\]\['f'\] is a numpy array of dtype object"),
    ({1, object()}, r"checkpoint\['meta'\]\['f'\]\[\d\] is a "
     r'builtins.object'),
])
def test_what_has_no_plain_form_is_named(value, message):
    with pytest.raises(TypeError, match=message):
        to_plain({'meta': {'f': value}})


@pytest.mark.parametrize('plain,message', [
    ({PLAIN_TYPE_KEY: 'os.system'}, r"unknown _mmcaps_type 'os.system'"),
    ({PLAIN_TYPE_KEY: 'numpy.ndarray', 'data': 'x'},
     r'\["data"\] should be a tensor, got str'),
    ({PLAIN_TYPE_KEY: 'numpy.ndarray', 'data': torch.ones(1), 'extra': 1},
     r"has the fields \['data'\], got \['data', 'extra'\]"),
    ({PLAIN_TYPE_KEY: 'mmengine.HistoryBuffer',
      'log_history': torch.ones(3), 'count_history': torch.ones(2),
      'max_length': 5}, r'3 logged values but 2 counts'),
    ({PLAIN_TYPE_KEY: 'mmengine.HistoryBuffer',
      'log_history': torch.ones(2, 2), 'count_history': torch.ones(2),
      'max_length': 5}, r'\["log_history"\] should be a 1-D tensor'),
    ({PLAIN_TYPE_KEY: 'mmengine.HistoryBuffer',
      'log_history': torch.ones(2), 'count_history': torch.ones(2),
      'max_length': True}, r'\["max_length"\] should be a positive int'),
    ({PLAIN_TYPE_KEY: 'numpy.ndarray',
      'data': torch.ones(2, dtype=torch.bfloat16)},
     r'has dtype torch.bfloat16, which numpy cannot hold'),
])
def test_malformed_plain_entries_are_refused(plain, message):
    with pytest.raises(BadCheckpointError,
                       match=r"checkpoint\['hub'\]\[0\].*" + message):
        from_plain({'hub': [plain]})


def test_nesting_deeper_than_any_checkpoint_is_refused():
    value = []
    for _ in range(500):
        value = [value]
    with pytest.raises(BadCheckpointError, match='nested more than 100'):
        from_plain({'meta': value})
    with pytest.raises(TypeError, match='nested more than 100'):
        to_plain({'meta': value})


def test_save_plain_checkpoint_converts_a_trusted_legacy_file(tmp_path):
    legacy = tmp_path / 'legacy.pth'
    torch.save(mmengine_like_checkpoint(), legacy)
    with pytest.raises(UnsafeCheckpointError, match='HistoryBuffer'):
        save_plain_checkpoint(str(legacy), str(tmp_path / 'plain.pth'))
    assert not (tmp_path / 'plain.pth').exists()
    save_plain_checkpoint(str(legacy), str(tmp_path / 'plain.pth'),
                          trusted=True)
    converted = from_plain(load_checkpoint_file(tmp_path / 'plain.pth'))
    assert converted['message_hub']['log_scalars'][
        'train/loss'].data[0].tolist() == [0.75, 0.5]


def test_old_torch_loads_only_trusted_files(tmp_path, monkeypatch):
    path = tmp_path / 'weights.pth'
    torch.save({'w': torch.ones(2)}, path)
    monkeypatch.setattr(checkpoint_module.torch, '__version__', '2.9.1')
    with pytest.raises(RuntimeError,
                       match=r'only with torch >= 2\.10\.0: the weights_only '
                       r'unpickler of torch 2\.9\.1 has published bypasses'):
        load_checkpoint_file(path)
    monkeypatch.setenv('MMCAPS_TRUSTED_CHECKPOINTS', str(path))
    assert torch.equal(load_checkpoint_file(path)['w'], torch.ones(2))


class TwoLayers(nn.Module):

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(2, 3)
        self.b = nn.Linear(3, 1)


def test_load_model_weights_unwraps_and_revises_keys(tmp_path):
    source = TwoLayers()
    path = tmp_path / 'w.pth'
    # Saved from a wrapped model: every key starts with 'module.'.
    torch.save({'state_dict': nn.DataParallel(source).state_dict(),
                'meta': {'epoch': 2}}, path)
    target = nn.DataParallel(TwoLayers())
    checkpoint = load_model_weights(target, path)
    assert checkpoint['meta'] == {'epoch': 2}
    for key, value in source.state_dict().items():
        assert torch.equal(target.module.state_dict()[key], value), key


def test_load_model_weights_partial_fit_only_when_asked(tmp_path):
    source = TwoLayers()
    partial = {'a.weight': source.a.weight, 'a.bias': source.a.bias}
    target = TwoLayers()
    with pytest.raises(BadCheckpointError,
                       match=r"2 of the model's 4 weights are missing from "
                       r'it: b\.weight, b\.bias'):
        load_model_weights(target, partial)
    load_model_weights(target, partial, strict=False)
    assert torch.equal(target.a.weight, source.a.weight)


def test_many_missing_keys_are_summarised():
    model = nn.Sequential(*[nn.Linear(1, 1) for _ in range(8)])
    with pytest.raises(BadCheckpointError,
                       match=r"16 of the model's 16 weights are missing from "
                       r'it: 0\.weight, .*, 4\.bias and 6 more\.'):
        load_model_weights(model, {})


def test_atomic_path_and_downloads_fsync_file_and_folder(
        tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync

    def fsync(fd):
        synced.append(os.fstat(fd).st_ino)
        real_fsync(fd)

    monkeypatch.setattr(fileio.os, 'fsync', fsync)
    dest = tmp_path / 'out' / 'f.txt'
    dest.parent.mkdir()
    with atomic_path(str(dest)) as tmp:
        with open(tmp, 'w') as f:
            f.write('new')
    assert dest.read_text() == 'new'
    assert dest.stat().st_ino in synced
    assert dest.parent.stat().st_ino in synced

    synced.clear()
    source = tmp_path / 'source.bin'
    source.write_bytes(b'payload')
    downloaded = tmp_path / 'dl' / 'f.bin'
    download_file(source.as_uri(), str(downloaded))
    assert downloaded.read_bytes() == b'payload'
    assert downloaded.stat().st_ino in synced
    assert downloaded.parent.stat().st_ino in synced
