"""A timm backbone with a capsule head trains through tools/train.py."""
import math
import re
import sys

import torch
from conftest import run_in_repo, write_tiny_mnist_config

CONFIG = ('configs/capsule_heads/'
          'timm-resnet18-layer2_capsule-head_1xb128_mnist.py')


def test_timm_capsule_head_trains_and_validates(tiny_mnist_root, tmp_path):
    config = write_tiny_mnist_config(tmp_path / 'timm_caps.py', CONFIG,
                                     tiny_mnist_root)
    work_dir = tmp_path / 'work'
    log = run_in_repo(sys.executable, 'tools/train.py', config,
                      '--work-dir', work_dir)
    losses = re.findall(
        r'Epoch\(train\).*loss_margin: ([\d.]+)\s+loss_recon: ([\d.]+)', log)
    assert len(losses) == 3  # 48 images / 16 per batch
    assert all(math.isfinite(float(x)) and float(x) > 0
               for pair in losses for x in pair)
    assert re.search(r'Epoch\(val\).*accuracy/top1: [\d.]+', log)
    state = torch.load(work_dir / 'epoch_1.pth', map_location='cpu',
                       weights_only=True)['state_dict']
    assert state['neck.primary_caps.conv.weight'].shape == (256, 128, 1, 1)
    assert state['head.capsules.weight'].shape == (512, 8, 160)
    assert any(k.startswith('backbone.timm_model.layer2') for k in state)
