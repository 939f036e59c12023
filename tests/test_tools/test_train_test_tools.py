"""End-to-end runs of tools/train.py and tools/test.py on a tiny config."""
import json
import pickle
import re
import shutil
import subprocess
import sys

import cv2
import pytest
import torch
from conftest import REPO, repo_env, run_in_repo, write_tiny_config


@pytest.fixture(scope='module')
def tiny_config(tiny_mnist_root, tmp_path_factory):
    return write_tiny_config(
        tmp_path_factory.mktemp('cfg') / 'tiny_capsnet.py', tiny_mnist_root)


def run_tool(*args):
    return run_in_repo(sys.executable, *args)


def weights(ckpt):
    return torch.load(ckpt, map_location='cpu', weights_only=True)


@pytest.fixture(scope='module')
def trained(tiny_config, tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('full')
    log = run_tool('tools/train.py', tiny_config, '--work-dir', work_dir)
    return work_dir, log


def test_train_writes_checkpoints_and_validates(trained):
    work_dir, log = trained
    assert (work_dir / 'epoch_1.pth').is_file()
    assert (work_dir / 'epoch_2.pth').is_file()
    assert len(re.findall(r'Epoch\(val\).*accuracy/top1: [\d.]+', log)) == 2
    losses = re.findall(r'Epoch\(train\).*loss_margin: ([\d.]+)', log)
    assert len(losses) == 6  # 48 images / 16 per batch * 2 epochs


def test_checkpoint_loads_with_weights_only(trained):
    ckpt = weights(trained[0] / 'epoch_2.pth')
    assert ckpt['meta']['epoch'] == 2
    assert 'head.capsules.weight' in ckpt['state_dict']


def test_test_tool_reports_accuracy(trained, tiny_config, tmp_path):
    out = tmp_path / 'preds.pkl'
    log = run_tool('tools/test.py', tiny_config, trained[0] / 'epoch_2.pth',
                   '--work-dir', tmp_path, '--out', out)
    train_acc = re.findall(r'Epoch\(val\).*accuracy/top1: ([\d.]+)',
                           trained[1])[-1]
    test_acc = re.search(r'Epoch\(test\).*accuracy/top1: ([\d.]+)', log)
    # Same weights, same 20 test images: the same accuracy as the final
    # validation of the training run.
    assert test_acc and test_acc.group(1) == train_acc
    with open(out, 'rb') as f:
        preds = pickle.load(f)
    assert len(preds) == 20 and preds[0]['pred_score'].shape == (10, )


def test_test_tool_metrics_json_and_drawn_predictions(trained, tiny_config,
                                                      tmp_path):
    out, show_dir = tmp_path / 'metrics.json', tmp_path / 'vis'
    log = run_tool('tools/test.py', tiny_config, trained[0] / 'epoch_2.pth',
                   '--work-dir', tmp_path, '--out', out, '--out-item',
                   'metrics', '--show-dir', show_dir, '--interval', '10')
    test_acc = re.search(r'Epoch\(test\).*accuracy/top1: ([\d.]+)', log)
    metrics = json.loads(out.read_text())
    assert metrics == {'accuracy/top1': pytest.approx(float(test_acc[1]))}
    # Samples 0 and 10 of the 20, drawn at 224 px.
    drawn = sorted(show_dir.glob('*.png'))
    assert [p.name.split('_')[0] for p in drawn] == ['0', '10']
    assert cv2.imread(str(drawn[0])).shape[:2] == (224, 224)


def test_test_tool_rejects_other_out_formats(tiny_config, tmp_path):
    proc = subprocess.run(
        [sys.executable, 'tools/test.py', str(tiny_config), 'x.pth',
         '--out', str(tmp_path / 'preds.csv')],
        cwd=REPO, env=repo_env(), capture_output=True, text=True)
    assert proc.returncode == 2
    assert '--out must name a .pkl, .pickle or .json file, got' in \
        proc.stderr


def assert_same_weights(ckpt_a, ckpt_b):
    a, b = weights(ckpt_a), weights(ckpt_b)
    assert a['meta']['iter'] == b['meta']['iter'] == 6
    for key, value in a['state_dict'].items():
        torch.testing.assert_close(b['state_dict'][key], value, msg=key)
    assert a['param_schedulers'] == b['param_schedulers']


def test_auto_resume_gives_the_same_run(trained, tiny_config, tmp_path):
    # A run that died after its first epoch leaves epoch_1.pth and the
    # last_checkpoint pointer behind.
    shutil.copy(trained[0] / 'epoch_1.pth', tmp_path / 'epoch_1.pth')
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_1.pth'))
    log = run_tool('tools/train.py', tiny_config, '--work-dir', tmp_path,
                   '--resume')
    assert 'resumed epoch: 1, iter: 3' in log
    assert_same_weights(trained[0] / 'epoch_2.pth', tmp_path / 'epoch_2.pth')


def test_resume_from_explicit_checkpoint(trained, tiny_config, tmp_path):
    log = run_tool('tools/train.py', tiny_config, '--work-dir', tmp_path,
                   '--resume', trained[0] / 'epoch_1.pth')
    assert 'resumed epoch: 1, iter: 3' in log
    assert not (tmp_path / 'epoch_1.pth').exists()
    assert_same_weights(trained[0] / 'epoch_2.pth', tmp_path / 'epoch_2.pth')


def test_get_flops_tool():
    out = run_tool('tools/analysis_tools/get_flops.py',
                   'configs/capsnet/capsnet_r3-recon_1xb128_mnist.py')
    assert 'parameters: 8,215,568' in out
    # Conv1 20*20*256*81 + PrimaryCaps 6*6*256*256*81 + u_hat 1152*10*8*16
    # + routing sums and agreements (3 + 2 times 1152*10*16).
    macs = 8294400 + 191102976 + 1474560 + 5 * 184320
    assert f'multiply-adds (inference): {macs:,}' in out


def test_train_with_torch_compile(tiny_config, tmp_path):
    """`compile = True` in a config compiles the training step (inductor on
    CPU, the hand-written routing backward included)."""
    log = run_tool('tools/train.py', tiny_config, '--work-dir', tmp_path,
                   '--cfg-options', 'compile=True', 'train_cfg.max_epochs=1')
    assert 'Model has been "compiled"' in log
    losses = [float(x) for x in re.findall(
        r'Epoch\(train\).*loss_margin: ([\d.]+)', log)]
    assert len(losses) == 3 and all(0 < x < 10 for x in losses)
    assert (tmp_path / 'epoch_1.pth').is_file()
