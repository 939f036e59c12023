"""``tools/train.py --amp`` on a machine without a GPU: bfloat16 autocast
(mmengine's AmpOptimWrapper refuses to start there)."""
import math
import re
import sys

import pytest
import torch
from conftest import REPO, checkpoint_weights, run_in_repo, write_tiny_config

THREE_ITERS = '''
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=3)
val_cfg = None
val_dataloader = None
val_evaluator = None
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=3))
'''


@pytest.mark.skipif(torch.cuda.is_available(),
                    reason='--amp means float16 AmpOptimWrapper on GPUs')
def test_amp_trains_in_bfloat16_on_cpu(tiny_mnist_root, tmp_path):
    config = write_tiny_config(tmp_path / 'amp.py', tiny_mnist_root,
                               THREE_ITERS)
    log = run_in_repo(sys.executable, 'tools/train.py', config, '--amp',
                      '--work-dir', tmp_path)
    assert re.search(r"dtype='bfloat16',\s+optimizer=.*\s+"
                     r"type='AutocastOptimWrapper'", log)
    losses = [
        float(x) for x in re.findall(r'Epoch\(train\).* loss: (\S+)', log)
    ]
    assert len(losses) == 3 and all(map(math.isfinite, losses))
    for key, value in checkpoint_weights(tmp_path / 'iter_3.pth').items():
        assert value.dtype == torch.float32 and value.isfinite().all(), key


MNIST = REPO / '..' / 'shared' / 'data' / 'mnist'

REAL_MNIST_AMP = '''
_base_ = ['{repo}/configs/capsnet/capsnet_r3-recon_1xb128_mnist.py']
train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    dataset=dict(data_root='{data_root}'))
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=200)
val_cfg = None
val_dataloader = None
val_evaluator = None
test_cfg = None
test_dataloader = None
test_evaluator = None
default_hooks = dict(
    logger=dict(interval=20), checkpoint=dict(by_epoch=False, interval=200))
'''


@pytest.mark.skipif(torch.cuda.is_available(),
                    reason='--amp means float16 AmpOptimWrapper on GPUs')
@pytest.mark.skipif(not (MNIST / 'train-images-idx3-ubyte.gz').exists(),
                    reason='real MNIST (../shared/data/mnist) not present')
def test_amp_paper_capsnet_200_steps_real_mnist(tmp_path):
    """The paper's CapsNet, 200 bfloat16 steps of 4 real MNIST digits (the
    300-step run of batch 32 is configs/capsnet/logs/
    capsnet_r3-recon_amp-bf16_300iter_cpu.log): every logged
    loss finite (FiniteLossHook would stop the run at the first non-finite
    one), the loss falls, and the weights stay finite."""
    config = tmp_path / 'amp_mnist.py'
    config.write_text(
        REAL_MNIST_AMP.format(repo=REPO, data_root=MNIST.resolve()))
    log = run_in_repo(sys.executable, 'tools/train.py', config, '--amp',
                      '--work-dir', tmp_path)
    losses = [
        float(x) for x in re.findall(r'\(train\).* loss: (\S+)', log)
    ]
    assert len(losses) == 10 and all(map(math.isfinite, losses))
    # From ~0.8 (chance) to well under it in 200 steps.
    assert losses[-1] < 0.6 * losses[0], losses
    for key, value in checkpoint_weights(tmp_path / 'iter_200.pth').items():
        assert value.isfinite().all(), key
