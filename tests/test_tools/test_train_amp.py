"""``tools/train.py --amp`` on a machine without a GPU: bfloat16 autocast
(mmengine's AmpOptimWrapper refuses to start there)."""
import math
import re
import sys

import pytest
import torch
from conftest import checkpoint_weights, run_in_repo, write_tiny_config

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
