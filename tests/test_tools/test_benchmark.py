"""``tools/benchmark.py`` on tiny configs: which steps it times, what they
train, and the ratios it reports (its timings are not checked: speed
belongs in the benchmark, not in tests)."""
import json
import subprocess
import sys

import pytest
import torch
from conftest import REPO, repo_env, run_in_repo, write_tiny_config

sys.path.insert(0, str(REPO / 'tools'))
import benchmark  # noqa: E402

CIFAR_CAPSULE = (REPO / 'configs' / 'capsule_heads' /
                 'timm-resnet18-os8_capsule-head_1xb128_cifar10.py')


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
    # A 2048-2048 decoder layer (16 MiB of weights): a step allocates its
    # gradient and Adam's temporaries for it, which the memory of the
    # compared config (measured in its own process) must show.
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


def bench_args(config, *argv):
    return benchmark.parse_args([str(config), '--batch-size', '2', *argv])


def test_jobs_sweep_the_model_over_sizes_and_paths():
    args = bench_args('a.py', '--variants', 'model', 'trunk', 'conv_floor',
                      '--num-classes', '10', '1000', '--votes', 'full',
                      'lean', '--compare', 'b.py')
    jobs = benchmark.make_jobs(args)
    # Each size's trunk runs right after its models, in every round.
    assert [job.name for job in jobs] == [
        'model-k10-full', 'model-k10-lean', 'trunk-k10', 'model-k1000-full',
        'model-k1000-lean', 'trunk-k1000', 'conv_floor', 'b.py'
    ]
    assert jobs[4].overrides == {
        'model.head.num_classes': 1000,
        'data_preprocessor.num_classes': 1000, 'model.head.votes': 'lean'}
    assert jobs[5].overrides == {'model.head.num_classes': 1000,
                                 'data_preprocessor.num_classes': 1000}
    assert jobs[6].overrides == {} and jobs[7].compared
    # Without a sweep the names stay those of the variants.
    assert [job.name for job in benchmark.make_jobs(
        bench_args('a.py', '--variants', 'model', 'trunk'))] == [
            'model', 'trunk']


def grads_after_a_step(job, args):
    """Run one step of ``job`` on its built model and return which of the
    model's parameters got a gradient, by module prefix."""
    cfg = benchmark.load_config(job, args)
    model = benchmark.build_model(cfg, torch.device('cpu'))
    module, loss_fn = benchmark._loss_fn(
        job, model, benchmark.make_batch(model, cfg, args))
    loss_fn().backward()
    return module, {
        name.split('.')[0]: p.grad is not None
        for name, p in model.named_parameters()
    }


def test_floor_is_the_model_without_its_head(tmp_path, tiny_mnist_root):
    """For the paper-style CapsNet: Conv1 + PrimaryCaps (the backbone) get
    gradients, the capsule layer and the decoder none."""
    config = write_tiny_config(tmp_path / 'tiny.py', tiny_mnist_root)
    args = bench_args(config)
    module, grads = grads_after_a_step(
        benchmark.Job('conv_floor', str(config), 'conv_floor'), args)
    assert grads == {'backbone': True, 'head': False}


def test_trunk_pools_the_backbone_map_into_a_linear_layer():
    """The trunk of a capsule-head config: its backbone, global pooling
    and a linear layer over the head's (swept) class count."""
    args = bench_args(CIFAR_CAPSULE)
    job = benchmark.make_jobs(
        bench_args(CIFAR_CAPSULE, '--variants', 'trunk', '--num-classes',
                   '7'))[0]
    module, grads = grads_after_a_step(job, args)
    assert module.fc.out_features == 7 and module.fc.in_features == 512
    assert module.fc.weight.grad is not None
    assert grads == {'backbone': True, 'neck': False, 'head': False}


def test_trunk_needs_a_feature_map(tmp_path, tiny_mnist_root):
    config = write_tiny_config(tmp_path / 'tiny.py', tiny_mnist_root)
    with pytest.raises(ValueError, match=r'the trunk variant pools a '
                       r'backbone feature map \(B, C, H, W\); this backbone '
                       r'returns \(1, 72, 4\)'):
        grads_after_a_step(benchmark.Job('trunk', str(config), 'trunk'),
                           bench_args(config))


def test_capsule_part_is_the_model_minus_its_trunk():
    """Time: the median over rounds of the difference within each round
    (2 steps a round); memory: the difference of the peaks."""
    jobs = benchmark.make_jobs(
        bench_args('a.py', '--variants', 'model', 'trunk', '--num-classes',
                   '10', '1000', '--votes', 'full', 'lean'))
    # The machine slows down in round 2: the rounds' differences do not.
    trunk = [100.0, 100.0, 200.0, 200.0, 110.0, 110.0]
    entries = {
        'trunk-k10': dict(ms_per_step=110.0, peak_mib=1000.0,
                          step_ms=trunk),
        'trunk-k1000': dict(ms_per_step=110.0, peak_mib=1010.0,
                            step_ms=trunk),
        'model-k10-full': dict(peak_mib=1100.0,
                               step_ms=[t + 30.0 for t in trunk]),
        'model-k10-lean': dict(peak_mib=1020.0,
                               step_ms=[t + 5.0 for t in trunk]),
        'model-k1000-full': dict(
            peak_mib=9010.0, step_ms=[t + 330.0 for t in trunk]),
        'model-k1000-lean': dict(
            peak_mib=1210.0,
            step_ms=[120.0, 124.0, 230.0, 250.0, 132.0, 132.0]),
    }
    parts = benchmark.capsule_parts(jobs, entries, steps_per_round=2)
    assert parts['model-k1000-lean'] == pytest.approx(dict(
        trunk='trunk-k1000', ms_per_step=22.0, time_over_trunk=0.2,
        peak_mib=200.0, round_ms=[22.0, 40.0, 22.0]))
    assert parts['model-k10-full']['ms_per_step'] == pytest.approx(30.0)
    assert parts['model-k10-full']['peak_mib'] == pytest.approx(100.0)
    assert benchmark.lean_memory_savings(jobs, parts) == pytest.approx(
        {'k10': 5.0, 'k1000': 40.0})


def test_sweep_reports_the_capsule_part(tmp_path):
    """End to end on a ResNet-18 capsule head with W shared by the 4x4
    grid, 200 classes, batch 32: the full path's votes alone are 32 * 200 *
    512 * 16 * 4 bytes = 200 MiB (and their gradient as much), which the
    lean path never allocates."""
    config = tmp_path / 'shared.py'
    config.write_text(
        f"_base_ = ['{CIFAR_CAPSULE}']\n"
        'model = dict(head=dict(decoder=None, weight_sharing=dict('
        'num_types=32, grid=(4, 4))))\n')
    out = tmp_path / 'bench.json'
    log = run_in_repo(sys.executable, 'tools/benchmark.py', config,
                      '--batch-size', '32', '--warmup', '1', '--rounds', '1',
                      '--steps', '1', '--data-batches', '0',
                      '--memory-steps', '1', '--variants', 'model', 'trunk',
                      '--num-classes', '200', '--votes', 'full', 'lean',
                      '--out', out)
    result = json.loads(out.read_text())
    v = result['variants']
    assert set(v) == {'model-k200-full', 'model-k200-lean', 'trunk-k200'}
    assert v['model-k200-lean']['votes'] == 'lean'
    assert v['trunk-k200']['num_classes'] == 200
    parts = result['capsule_part']
    for name in ('model-k200-full', 'model-k200-lean'):
        # One round of one step: the difference of the two steps.
        assert parts[name]['ms_per_step'] == pytest.approx(
            v[name]['step_ms'][0] - v['trunk-k200']['step_ms'][0])
        assert parts[name]['peak_mib'] == pytest.approx(
            v[name]['peak_mib'] - v['trunk-k200']['peak_mib'])
    # The full path allocates the votes; the lean path never does.
    assert parts['model-k200-full']['peak_mib'] > 200
    assert parts['model-k200-lean']['peak_mib'] < 20
    assert result['full_over_lean_memory']['k200'] > 10
    assert 'capsule part (model step - trunk step, median over rounds)' in log
