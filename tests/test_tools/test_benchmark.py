"""``tools/benchmark.py`` on a tiny config: what it times and reports (its
numbers are not checked: speed belongs in the benchmark, not in tests)."""
import json
import subprocess
import sys

import pytest
from conftest import REPO, repo_env, run_in_repo, write_tiny_config


def run_benchmark(tmp_path, tiny_mnist_root, *variants):
    config = write_tiny_config(tmp_path / 'bench.py', tiny_mnist_root)
    out = tmp_path / 'bench.json'
    log = run_in_repo(sys.executable, 'tools/benchmark.py', config,
                      '--batch-size', '4', '--warmup', '1', '--rounds', '2',
                      '--steps', '1', '--data-batches', '0', '--no-memory',
                      '--out', out, '--variants', *variants)
    return json.loads(out.read_text()), log


def test_all_variants_and_their_ratios(tmp_path, tiny_mnist_root):
    result, log = run_benchmark(tmp_path, tiny_mnist_root, 'model', 'naive',
                                'conv_floor')
    v = result['variants']
    assert set(v) == {'model', 'naive', 'conv_floor'}
    for entry in v.values():
        assert entry['timed_steps'] == 2
        assert entry['images_per_s'] == pytest.approx(
            4 / (entry['ms_per_step'] / 1e3))
    assert result['step_over_floor'] == pytest.approx(
        v['model']['ms_per_step'] / v['conv_floor']['ms_per_step'])
    assert result['speedup_over_naive'] == pytest.approx(
        v['naive']['ms_per_step'] / v['model']['ms_per_step'])
    assert 'speed-up over naive' in log


def test_model_alone_has_no_ratios(tmp_path, tiny_mnist_root):
    # A routing without a naive twin (EM, self-attention) is timed alone.
    result, log = run_benchmark(tmp_path, tiny_mnist_root, 'model')
    assert set(result['variants']) == {'model'}
    assert 'step_over_floor' not in result
    assert 'speedup_over_naive' not in result
    assert 'speed-up' not in log


def test_compare_times_other_configs_in_the_same_rounds(tmp_path,
                                                        tiny_mnist_root):
    first = write_tiny_config(tmp_path / 'dynamic.py', tiny_mnist_root)
    # A 2048-2048 decoder layer: its gradients and Adam state add ~48 MiB
    # to what a step allocates, which the memory of the compared config
    # (measured in its own process) must show.
    big = write_tiny_config(
        tmp_path / 'em_big.py', tiny_mnist_root,
        'model = dict(head=dict(\n'
        "    routing=dict(_delete_=True, type='EMRouting'),\n"
        '    decoder=dict(hidden_dims=(2048, 2048))))\n')
    out = tmp_path / 'bench.json'
    log = run_in_repo(sys.executable, 'tools/benchmark.py', first,
                      '--batch-size', '4', '--warmup', '1', '--rounds', '3',
                      '--steps', '1', '--data-batches', '0', '--out', out,
                      '--variants', 'model', '--compare', big)
    result = json.loads(out.read_text())
    assert set(result['variants']) == {'model'}
    assert set(result['compare']) == {str(big)}
    first_entry = result['variants']['model']
    entry = result['compare'][str(big)]
    assert entry['timed_steps'] == first_entry['timed_steps'] == 3
    assert entry['speed_over_first'] == pytest.approx(
        first_entry['ms_per_step'] / entry['ms_per_step'])
    assert entry['peak_mib'] > first_entry['peak_mib'] + 40
    # Rows are named by config.
    assert '\ndynamic ' in log and '\nem_big ' in log


def test_compare_rejects_a_config_named_twice(tmp_path, tiny_mnist_root):
    config = write_tiny_config(tmp_path / 'bench.py', tiny_mnist_root)
    other = write_tiny_config(tmp_path / 'other.py', tiny_mnist_root)
    proc = subprocess.run(
        [sys.executable, 'tools/benchmark.py', str(config), '--no-memory',
         '--variants', 'model', '--compare', str(other), str(other)],
        cwd=REPO, env=repo_env(), capture_output=True, text=True)
    assert proc.returncode != 0
    assert f'--compare names {other} twice' in proc.stderr
