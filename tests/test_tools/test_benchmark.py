"""``tools/benchmark.py`` on a tiny config: what it times and reports (its
numbers are not checked: speed belongs in the benchmark, not in tests)."""
import json
import sys

import pytest
from conftest import run_in_repo, write_tiny_config


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
