"""Attacks through checkpoints, refused at every entry point.

Each malicious file (see attacks.py) is refused with an error naming the
problem, and none runs code: the file its payload would create never
appears. The tools run in subprocesses (several runs per process, see
tool_driver.py), as a forged numpy array would crash the process that
frees it; a crash shows as a negative return code.
"""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from attacks import serve, write_payloads
from conftest import REPO, repo_env, write_tiny_config
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint
from mmengine.runner.checkpoint import CheckpointLoader
from mmpretrain.registry import MODELS

from mmcaps.utils import (MAX_DOWNLOAD_BYTES, BadCheckpointError,
                          UnsafeCheckpointError, download_checkpoint,
                          load_checkpoint_file, load_model_weights)

HERE = Path(__file__).parent
CODE_PAYLOADS = ('os.system', 'builtins.eval', 'functools.partial',
                 'getattr chain')


def build_model(config: Path) -> torch.nn.Module:
    init_default_scope('mmpretrain')
    return MODELS.build(Config.fromfile(config).model)


@pytest.fixture(scope='module')
def target(tiny_mnist_root, tmp_path_factory):
    """The tiny CapsNet config and its model's weights."""
    config = write_tiny_config(
        tmp_path_factory.mktemp('target') / 'tiny.py', tiny_mnist_root)
    torch.manual_seed(0)
    return config, build_model(config).state_dict()


def fit_payloads(state_dict: dict) -> dict:
    """Checkpoints whose weights do not fit the target, by name: the
    checkpoint and the regular expression its refusal must match."""
    first = next(iter(state_dict))
    param = 'head.capsules.weight'
    wrong_shape = dict(state_dict)
    wrong_shape[param] = wrong_shape[param][..., :2]
    renamed = {f'old.{k}': v for k, v in state_dict.items()}
    nan, inf = dict(state_dict), dict(state_dict)
    nan[param] = state_dict[param].clone().fill_(float('nan'))
    inf[param] = state_dict[param].clone().fill_(float('inf'))
    fits = r'Checkpoint .* does not fit the CapsNetClassifier of the config'
    return {
        'empty state_dict': ({'state_dict': {}},
                             fits + rf": \d+ of the model's \d+ weights are "
                             rf'missing from it: {re.escape(first)}'),
        'wrong shape': ({'state_dict': wrong_shape},
                        fits + r': 1 of its weights has the wrong shape: '
                        rf'{param} \(checkpoint \(.*\), model \(.*\)\)'),
        'renamed weights': ({'state_dict': renamed},
                            fits + r'.*weights are not in the model: '
                            rf'old\.{re.escape(first)}'),
        'NaN weights': ({'state_dict': nan},
                        rf'these weights hold NaN or infinity: {param}'),
        'infinite weights': ({'state_dict': inf},
                             rf'these weights hold NaN or infinity: {param}'),
        'not a dict': ([1, 2, 3], r'holds a list, not a dict of weights'),
        'non-tensor weights': (
            {'state_dict': {first: 1.5}},
            rf'entries are not tensors: {re.escape(first)}'),
    }


@pytest.fixture(scope='module')
def payloads(target, tmp_path_factory):
    """Every bad checkpoint, served over HTTP too: ``(files, base_url,
    sentinel)``, files by name as ``(path, expected message)``."""
    _, state_dict = target
    root = tmp_path_factory.mktemp('payloads')
    sentinel = root / 'pwned'
    files = write_payloads(root / 'files', sentinel, state_dict)
    for name, (checkpoint, message) in fit_payloads(state_dict).items():
        path = root / 'files' / (name.replace(' ', '_') + '.pth')
        torch.save(checkpoint, path)
        files[name] = (path, message)
    good = root / 'files' / 'good.pth'
    torch.save({'state_dict': state_dict, 'meta': {'epoch': 1}}, good)
    files['good'] = (good, None)
    with serve(root / 'files') as base_url:
        yield files, base_url, sentinel
    assert not sentinel.exists()


def url(payloads, name: str, kind: str = 'files') -> str:
    files, base_url, _ = payloads
    return f'{base_url}/{kind}/{files[name][0].name}'


@pytest.fixture
def hub_dir(tmp_path, monkeypatch):
    """torch.hub's cache, where URLs are downloaded to, in ``tmp_path``."""
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    return tmp_path / 'torch_home' / 'hub' / 'checkpoints'


def test_loader_refuses_each_bad_checkpoint(payloads, target):
    files, _, sentinel = payloads
    model = build_model(target[0])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    user_globals = torch.serialization.get_safe_globals()
    refused = [name for name, (_, message) in files.items() if message]
    assert len(refused) == 21
    for name in refused:
        path, message = files[name]
        with pytest.raises((BadCheckpointError, UnsafeCheckpointError),
                           match=message):
            load_model_weights(model, path)
        assert not sentinel.exists(), name
    assert set(torch.serialization.get_safe_globals()) >= set(user_globals)
    # Nothing was loaded from any of them.
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    load_model_weights(model, files['good'][0])


def test_refusal_names_every_global_and_the_opt_in(payloads):
    files, _, _ = payloads
    path = files['mmengine HistoryBuffer'][0]
    with pytest.raises(UnsafeCheckpointError) as info:
        load_checkpoint_file(path)
    message = str(info.value)
    for needed in ('mmengine.logging.history_buffer.HistoryBuffer',
                   'numpy.ndarray', 'numpy.dtype'):
        assert needed in message
    assert f'MMCAPS_TRUSTED_CHECKPOINTS={path}' in message
    assert 'trusted=True' in message
    assert 'checkpoint_safety.md' in message
    # torch's advice to turn the check off is not passed on.
    assert 'weights_only` set to `False`' not in message


def test_trusted_opt_in_is_explicit_and_per_file(payloads, monkeypatch,
                                                 tmp_path):
    files, _, _ = payloads
    legacy = files['mmengine HistoryBuffer'][0]
    copy = tmp_path / 'copy.pth'
    copy.write_bytes(legacy.read_bytes())
    assert load_checkpoint_file(legacy, trusted=True)['meta']['iter'] == 2
    monkeypatch.setenv('MMCAPS_TRUSTED_CHECKPOINTS',
                       os.pathsep.join([str(tmp_path / 'other.pth'),
                                        str(legacy)]))
    buffer = load_checkpoint_file(legacy)['message_hub']['log_scalars'][
        'train/loss']
    assert buffer.data[0].tolist() == [0.5, 0.25]
    # The same bytes under another name are not trusted.
    with pytest.raises(UnsafeCheckpointError):
        load_checkpoint_file(copy)


def test_importing_mmcaps_allow_lists_nothing():
    names = {getattr(g, '__module__', '') or '' for g in (
        g[0] if isinstance(g, tuple) else g
        for g in torch.serialization.get_safe_globals())}
    assert not any(n.startswith(('numpy', 'mmengine')) for n in names)


def test_every_mmengine_scheme_goes_through_the_safe_loader():
    for path in ('x.pth', 'http://h/x.pth', 'https://h/x.pth',
                 'torchvision://resnet18', 'modelzoo://resnet18',
                 'open-mmlab://x', 'openmmlab://x', 'mmcls://x',
                 'pavi://x', 's3://b/x.pth', 'petrel://b/x.pth'):
        loader = CheckpointLoader._get_checkpoint_loader(path)
        assert loader.__module__ == 'mmcaps.utils.checkpoint', path


def test_url_attack_is_refused_after_a_complete_download(
        payloads, target, hub_dir):
    files, _, sentinel = payloads
    model = build_model(target[0])
    for name in CODE_PAYLOADS + ('numpy forgery', ):
        with pytest.raises(UnsafeCheckpointError,
                           match=files[name][1]):
            load_checkpoint_file(url(payloads, name))
        # mmengine's own entry point takes the same path.
        with pytest.raises(UnsafeCheckpointError):
            load_checkpoint(model, url(payloads, name))
    assert not sentinel.exists()
    assert sorted(p.name for p in hub_dir.iterdir()) == sorted(
        files[name][0].name for name in CODE_PAYLOADS + ('numpy forgery', ))


@pytest.mark.parametrize('kind,path,message', [
    ('files', 'missing.pth', r'HTTP Error 404'),
    ('bad-length', 'good.pth', r"malformed Content-Length header '12abc'"),
    ('short', 'good.pth', r'incomplete download: got \d+ of \d+ bytes'),
    ('files', '', r'its path names no file'),
])
def test_bad_downloads_leave_no_file(payloads, hub_dir, kind, path,
                                     message):
    _, base_url, _ = payloads
    with pytest.raises((RuntimeError, ValueError), match=message):
        load_checkpoint_file(f'{base_url}/{kind}/{path}')
    assert not hub_dir.exists() or not list(hub_dir.iterdir())


def test_oversized_downloads_are_cut_off(payloads, hub_dir):
    _, base_url, _ = payloads
    assert MAX_DOWNLOAD_BYTES == 4 << 30
    with pytest.raises(RuntimeError,
                       match=r'announces \d+ bytes, over the 1000 B limit'):
        download_checkpoint(url(payloads, 'good'), max_bytes=1000)
    # Without a Content-Length the body is cut off at the limit.
    with pytest.raises(RuntimeError,
                       match=r'the body grew past the 1000 B limit'):
        download_checkpoint(f'{base_url}/endless/5000', max_bytes=1000)
    assert not list(hub_dir.iterdir())


def test_init_cfg_pretrained_get_model_and_inferencer(payloads, target):
    """The in-process entry points: a backbone's ``init_cfg`` Pretrained
    (partial fit allowed, safety not waived), mmpretrain's ``get_model``
    and its inferencer."""
    from mmpretrain import get_model
    from mmpretrain.apis import ImageClassificationInferencer
    files, _, sentinel = payloads
    config, _ = target
    cfg = Config.fromfile(config)
    for name in CODE_PAYLOADS + ('numpy forgery', ):
        path, message = files[name]
        model_cfg = cfg.model.copy()
        model_cfg.backbone = dict(
            model_cfg.backbone,
            init_cfg=dict(type='Pretrained', checkpoint=str(path),
                          prefix='backbone.'))
        with pytest.raises(UnsafeCheckpointError, match=message):
            MODELS.build(model_cfg).init_weights()
        with pytest.raises(UnsafeCheckpointError, match=message):
            get_model(cfg, pretrained=str(path))
        with pytest.raises(UnsafeCheckpointError, match=message):
            ImageClassificationInferencer(cfg, pretrained=str(path))
    assert not sentinel.exists()
    # A partial fit stays allowed where the config asks for one.
    model_cfg = cfg.model.copy()
    model_cfg.backbone = dict(
        model_cfg.backbone,
        init_cfg=dict(type='Pretrained', checkpoint=str(files['good'][0]),
                      prefix='backbone.'))
    model = MODELS.build(model_cfg)
    model.init_weights()
    expected = torch.load(files['good'][0], weights_only=True)['state_dict']
    assert torch.equal(model.backbone.conv1.weight,
                       expected['backbone.conv1.weight'])


def run_tool_driver(runs: list, tmp_path: Path) -> list:
    """Run ``runs`` with tool_driver.py in one subprocess; return their
    results (dicts with ``error`` and ``message``) and the output."""
    spec = tmp_path / 'runs.json'
    spec.write_text(json.dumps(runs))
    env = repo_env(HERE, TORCH_HOME=str(tmp_path / 'torch_home'))
    env.pop('MMCAPS_TRUSTED_CHECKPOINTS', None)
    proc = subprocess.run(
        [sys.executable, str(HERE / 'tool_driver.py'), str(spec)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    output = proc.stdout + proc.stderr
    # A crash (SIGSEGV: -11) ends the process with a negative code.
    assert proc.returncode == 0, output[-5000:]
    results = [json.loads(line[len('@@RESULT '):])
               for line in proc.stdout.splitlines()
               if line.startswith('@@RESULT ')]
    assert len(results) == len(runs), output[-5000:]
    return results, output


def assert_refused(results, runs, expected, output):
    for result, run, message in zip(results, runs, expected):
        assert result['error'] is not None, (run, output[-3000:])
        assert re.search(message, result['message'], re.S), (run, result)


def test_test_tool_refuses_attacks_and_misfits(payloads, target, tmp_path):
    files, _, sentinel = payloads
    config, _ = target
    names = CODE_PAYLOADS + ('numpy forgery', 'mmengine HistoryBuffer',
                             'truncated', 'zip bomb', 'empty state_dict',
                             'wrong shape', 'NaN weights')
    checkpoints = [str(files[name][0]) for name in names]
    checkpoints.append(url(payloads, 'os.system'))
    expected = [files[name][1] for name in names] + [files['os.system'][1]]
    runs = [{
        'tool': 'tools/test.py',
        'argv': [str(config), checkpoint, '--work-dir', str(tmp_path / 'w'),
                 '--cfg-options', f'experiment_name=attack{i}']
    } for i, checkpoint in enumerate(checkpoints)]
    # The deliberate opt-in: the same refused file, trusted, is evaluated.
    legacy = str(files['mmengine HistoryBuffer'][0])
    runs.append({
        'tool': 'tools/test.py',
        'argv': [str(config), legacy, '--work-dir', str(tmp_path / 'w'),
                 '--cfg-options', 'experiment_name=trusted'],
        'env': {'MMCAPS_TRUSTED_CHECKPOINTS': legacy}
    })
    results, output = run_tool_driver(runs, tmp_path)
    assert_refused(results[:-1], runs[:-1], expected, output)
    assert results[-1]['error'] is None, output[-3000:]
    # Only the trusted run reports a number.
    assert len(re.findall(r'Epoch\(test\).*accuracy/top1', output)) == 1
    assert not sentinel.exists()


def test_train_tool_resume_and_load_from_refuse_attacks(
        payloads, target, tmp_path):
    files, _, sentinel = payloads
    config, _ = target
    local = {name: str(files[name][0]) for name in files}
    cases = [('--resume', local['os.system'], 'os.system'),
             ('--resume', local['numpy forgery'], 'numpy forgery'),
             ('--resume', url(payloads, 'getattr chain'), 'getattr chain'),
             ('load_from', local['builtins.eval'], 'builtins.eval'),
             ('load_from', local['zip bomb'], 'zip bomb'),
             ('load_from', url(payloads, 'os.system'), 'os.system')]
    runs = []
    for i, (how, checkpoint, _) in enumerate(cases):
        argv = [str(config), '--work-dir', str(tmp_path / f'w{i}')]
        if how == '--resume':
            argv += ['--resume', checkpoint]
        argv += ['--cfg-options', f'experiment_name=train{i}']
        if how == 'load_from':
            argv.append(f'load_from={checkpoint}')
        runs.append({'tool': 'tools/train.py', 'argv': argv})
    results, output = run_tool_driver(runs, tmp_path)
    assert_refused(results, runs, [files[name][1] for *_, name in cases],
                   output)
    assert 'Epoch(train)' not in output
    assert not sentinel.exists()


def test_visualization_tools_refuse_attacks_and_misfits(payloads, target,
                                                        tmp_path):
    """With numpy's names on the allow-list first, as other code may put
    them (mmcaps itself did): the loads set them aside, so the forged
    array is refused all the same (were it built, freeing it would crash
    the process)."""
    files, _, sentinel = payloads
    config, _ = target
    cases = [
        ('vis_reconstructions', str(files['os.system'][0]),
         files['os.system'][1]),
        ('vis_reconstructions', str(files['empty state_dict'][0]),
         files['empty state_dict'][1]),
        ('vis_coupling', str(files['numpy forgery'][0]),
         files['numpy forgery'][1]),
        ('vis_coupling', url(payloads, 'functools.partial'),
         files['functools.partial'][1]),
        ('vis_perturbation', str(files['wrong shape'][0]),
         files['wrong shape'][1]),
        ('vis_perturbation', str(files['zip bomb'][0]),
         files['zip bomb'][1]),
    ]
    runs = [{'tool': str(HERE / 'allow_list_numpy.py'), 'argv': []}]
    runs += [{
        'tool': f'tools/visualization/{tool}.py',
        'argv': [str(config), checkpoint, '--out',
                 str(tmp_path / f'{i}.png')]
    } for i, (tool, checkpoint, _) in enumerate(cases)]
    results, output = run_tool_driver(runs, tmp_path)
    assert results[0]['error'] is None, output[-3000:]
    assert_refused(results[1:], runs[1:], [message for *_, message in cases],
                   output)
    assert not list(tmp_path.glob('*.png'))
    assert not sentinel.exists()
