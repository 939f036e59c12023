"""tools/gpu_check.py: the dry run (every stage on the CPU with a handful of
steps on a tiny synthetic MNIST, the CUDA tests skipped), the time budget
that skips stages which no longer fit, and a run cut short."""
import importlib.util
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, repo_env
from mmengine.config import Config

STAGES = [
    'environment', 'cuda_tests', 'amp_train', 'distributed_resume', 'speed',
    'reproduction'
]
LOGS = [f'logs/{i}_{name}.log' for i, name in enumerate(STAGES, 1)]


def gpu_check(*args) -> list:
    return [sys.executable, 'tools/gpu_check.py', *map(str, args)]


@pytest.fixture(scope='module')
def dry_run(tmp_path_factory):
    """One dry run: its process, results folder and results.json."""
    root = tmp_path_factory.mktemp('gpu_check')
    out = root / 'results'
    proc = subprocess.run(
        gpu_check('--dry-run', '--out', out, '--work-dir', root / 'work',
                  '--budget', 900),
        cwd=REPO, env=repo_env(), capture_output=True, text=True,
        timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc, out, json.loads((out / 'results.json').read_text())


def test_dry_run_passes_every_stage_and_says_so(dry_run):
    proc, _, results = dry_run
    for index, name in enumerate(STAGES, 1):
        assert f'[{index}/6] {name}: passed in ' in proc.stdout
    assert results['dry_run'] and 'interrupted' not in results
    assert list(results['stages']) == STAGES
    assert [s['status'] for s in results['stages'].values()] == [
        'passed'] * 6


def test_dry_run_leaves_the_eight_files_a_device_run_returns(dry_run):
    """results.json, summary.md and one log a stage (the device machine
    returns at most 8 files); the runs' files are in the work dir."""
    _, out, _ = dry_run
    files = sorted(str(p.relative_to(out)) for p in out.rglob('*')
                   if p.is_file())
    assert files == LOGS + ['results.json', 'summary.md']
    logs = {name: (out / log).read_text() for name, log in zip(STAGES, LOGS)}
    assert '-m pytest -m cuda tests/test_cuda' in logs['cuda_tests']
    assert 'tools/train.py' in logs['amp_train']
    assert logs['distributed_resume'].count('tools/dist_train.sh') >= 2
    assert 'tools/benchmark.py' in logs['speed']
    assert 'reproduction_cnn.py' in logs['reproduction']


def test_dry_run_measures_each_stage(dry_run):
    stages = {n: s['metrics'] for n, s in dry_run[2]['stages'].items()}
    env = stages['environment']
    assert not env['cuda_available'] and env['devices'] == []
    assert env['packages']['mmcaps'] and env['torch']
    assert all(size > 0 for size in env['data_files'].values())

    tests = stages['cuda_tests']
    assert tests['passed'] == tests['failed'] == tests['error'] == 0
    assert tests['skipped'] >= 20

    amp = stages['amp_train']
    assert amp['optim_wrapper'] == 'AutocastOptimWrapper'
    assert amp['logged_losses'] == 4 and amp['all_finite']
    assert amp['weights_finite'] and amp['loss_scale'] is None

    dist = stages['distributed_resume']
    assert dist['backend'] == 'gloo' and dist['distributed']
    assert dist['resumed_mid_epoch'] and dist['iters'] == [8, 8]
    assert dist['weights_equal'] and dist['max_weight_diff'] == 0
    assert dist['optimizer_equal'] and dist['schedulers_equal']

    speed = stages['speed']
    assert set(speed['benchmarks']) == {'bf16', 'fp32'}
    for bench in speed['benchmarks'].values():
        assert bench['batch_size'] == 2
        assert {v['images_per_s'] > 0
                for v in bench['variants'].values()} == {True}
        assert bench['step_over_floor'] > 0
    bf16 = speed['benchmarks']['bf16']
    assert list(bf16['routings']) == [
        'capsnet_r3-recon_1xb128_mnist-inmemory',
        'capsnet_r1-recon_1xb128_mnist', 'capsnet_em-recon_1xb128_mnist',
        'capsnet_selfattn-recon_1xb128_mnist'
    ]
    assert bf16['data_samples_per_s'] > 0
    epoch = speed['epoch']
    assert 0 < epoch['epoch_s'] < epoch['run_s']
    assert epoch['overhead_s'] == pytest.approx(
        epoch['run_s'] - epoch['epoch_s'])

    for model in ('capsnet', 'cnn'):
        run = stages['reproduction'][model]
        assert run['epochs'] == run['epochs_done'] == 1
        assert 0 <= run['test_error'] <= 100
        assert run['test_error'] == pytest.approx(100 - run['accuracy'])


def test_dry_run_summary_names_stages_and_goals(dry_run):
    _, out, results = dry_run
    summary = (out / 'summary.md').read_text()
    assert summary.startswith('# GPU check: dry run on the CPU')
    for stage in results['stages'].values():
        assert f"| {stage['title']} | passed |" in summary
    assert [g['met'] for g in results['goals']] == [None] * 3
    assert summary.count('not assessed: dry run on the CPU') == 3
    for section in ('## Speed', '## Routings', '## Reproduction'):
        assert section in summary


def test_stages_that_do_not_fit_the_budget_are_skipped(tmp_path):
    proc = subprocess.run(
        gpu_check('--dry-run', '--out', tmp_path / 'out', '--work-dir',
                  tmp_path / 'work', '--budget', 5),
        cwd=REPO, env=repo_env(), capture_output=True, text=True,
        timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert '[1/6] environment: skipped in ' in proc.stdout
    results = json.loads((tmp_path / 'out' / 'results.json').read_text())
    stages = results['stages']
    assert [s['status'] for s in stages.values()] == ['skipped'] * 6
    reason = stages['environment']['reason']
    assert reason.startswith('needs at least 10 s,')
    assert reason.endswith('left of the 5 s budget')
    # The others need what the environment stage finds.
    for name in STAGES[1:]:
        assert stages[name]['reason'] == (
            f'the environment stage was skipped: {reason}')


def test_bad_budget_is_refused(tmp_path):
    proc = subprocess.run(
        gpu_check('--dry-run', '--out', tmp_path, '--budget', 0), cwd=REPO,
        env=repo_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert '--budget must be positive, got 0.0' in proc.stderr


def test_a_run_cut_short_keeps_its_finished_stages(tmp_path):
    """SIGTERM in the second stage: the first stage's results stay, the
    second is marked interrupted, its test process is gone."""
    out = tmp_path / 'out'
    proc = subprocess.Popen(
        gpu_check('--dry-run', '--out', out, '--work-dir', tmp_path / 'work',
                  '--stages', 'cuda_tests'),
        cwd=REPO, env=repo_env(), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)
    results_file = out / 'results.json'
    deadline = time.monotonic() + 120
    try:
        while True:
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline, 'stage 2 never started'
            if results_file.exists() and '"cuda_tests"' in (
                    results_file.read_text()):
                break
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130
    results = json.loads(results_file.read_text())
    assert results['interrupted'] == 'SIGTERM'
    stages = results['stages']
    assert stages['environment']['status'] == 'passed'
    assert stages['cuda_tests']['status'] == 'interrupted'
    assert list(stages) == ['environment', 'cuda_tests']
    summary = (out / 'summary.md').read_text()
    assert '| CUDA correctness tests | interrupted |' in summary
    assert Path(out / 'logs' / '2_cuda_tests.log').exists()


def load_tool():
    """tools/gpu_check.py as a module (its dataclasses need it in
    sys.modules)."""
    spec = importlib.util.spec_from_file_location(
        'gpu_check', REPO / 'tools' / 'gpu_check.py')
    module = sys.modules.setdefault(spec.name,
                                    importlib.util.module_from_spec(spec))
    spec.loader.exec_module(module)
    return module


def test_configs_of_a_gpu_run(tmp_path):
    """What the dry run does not show: the configs of a GPU run train the
    repository's models as they are, at batch 128, on the given MNIST
    files (MD5-checked) through the GPU-resident data path."""
    tool = load_tool()
    root = str(tmp_path / 'mnist')
    check = tool.Check(tool.parse_args([
        '--out', str(tmp_path / 'out'), '--work-dir',
        str(tmp_path / 'work'), '--data-root', root
    ]))
    mnist = dict(type='MNISTIdx', data_root=root, split='train',
                 download=False, pipeline=[], check_md5=True)

    amp = Config.fromfile(tool.amp_train_config(check))
    assert amp.model.backbone == dict(type='CapsNet', in_channels=1)
    assert amp.train_dataloader.batch_size == 128
    assert amp.train_dataloader.dataset.type == 'InMemoryDataset'
    assert amp.train_dataloader.dataset.device == 'auto'
    assert amp.train_dataloader.dataset.dataset == mnist
    assert amp.train_cfg == dict(type='IterBasedTrainLoop', max_iters=300)
    assert amp.val_cfg is None and amp.val_dataloader is None
    assert amp.default_hooks.checkpoint.interval == 300
    assert amp.default_hooks.checkpoint.by_epoch is False

    path, ckpt_iter, last_iter = tool.resume_config(check, 2)
    resume = Config.fromfile(path)
    assert (ckpt_iter, last_iter) == (30, 40)
    assert resume.train_dataloader.dataset.dataset == dict(
        mnist, indices=20 * 2 * 128)
    assert resume.train_cfg == dict(type='ResumableEpochBasedTrainLoop',
                                    max_epochs=2, val_interval=2)
    assert resume.default_hooks.checkpoint.interval == 30
    assert resume.randomness == dict(seed=0, deterministic=True)
    assert resume.env_cfg.dist_cfg.backend == 'nccl'

    for model, bases in (('capsnet', [tool.CAPSNET_CONFIG]),
                         ('cnn', tool.CNN_BASES)):
        cfg = Config.fromfile(
            tool.epochs_config(check, f'reproduction_{model}', model, bases,
                               37))
        assert cfg.param_scheduler == dict(
            type='CosineAnnealingLR', by_epoch=True, T_max=37, eta_min=0.,
            convert_to_iter_based=True)
        assert cfg.optim_wrapper.optimizer == dict(type='Adam', lr=1e-3)
        assert cfg.train_cfg == dict(type='ResumableEpochBasedTrainLoop',
                                     max_epochs=37, val_interval=37)
        assert cfg.default_hooks.checkpoint.interval == 37
        assert cfg.default_hooks.logger == dict(
            type='LoggerHook', interval=100, ignore_last=False)
        assert cfg.log_processor.custom_cfg[0].window_size == 'epoch'
        assert cfg.train_dataloader.dataset.dataset == mnist
        assert cfg.val_dataloader.dataset.dataset == dict(
            mnist, split='test')
        assert cfg.data_preprocessor.type == 'RandomShiftDataPreprocessor'
    assert cfg.model.type == 'ImageClassifier'
    assert cfg.model.backbone == dict(type='BaselineCNN', in_channels=1,
                                      input_size=(28, 28))
