"""A user's config outside the repository inherits mmpretrain's recipe the
standard way (`_base_ = 'mmpretrain::...'`), swaps in a capsule head, and
trains and tests through tools/train.py and tools/test.py: mmengine
resolves `package::` bases with pkg_resources, which setup.py keeps
installed (setuptools<81)."""
import re
import sys
from pathlib import Path

import cv2
import numpy as np
from conftest import REPO, run_in_repo

USER_CONFIG = '''
_base_ = 'mmpretrain::resnet/resnet18_8xb16_cifar10.py'
custom_imports = dict(imports=['mmcaps'], allow_failed_imports=False)

# ResNet_CIFAR-18 ends on a (B, 512, 4, 4) map of a 32x32 image: 32 types
# of 8-D capsules at each position, routed to 10 class capsules.
model = dict(
    neck=dict(_delete_=True, type='PrimaryCapsNeck', in_channels=512,
              num_types=32, capsule_dim=8, in_size=(4, 4)),
    head=dict(_delete_=True, type='DigitCapsHead', num_classes=10,
              in_capsules=32 * 4 * 4, in_dim=8, out_dim=16))

# A folder of PNG files, one subfolder per class.
images = dict(_delete_=True, type='CustomDataset', data_root='{images}',
              pipeline=[dict(type='LoadImageFromFile'),
                        dict(type='PackInputs')])
train_dataloader = dict(batch_size=5, num_workers=0,
                        persistent_workers=False, dataset=images)
test_dataloader = dict(batch_size=5, num_workers=0,
                       persistent_workers=False, dataset=images)
train_cfg = dict(max_epochs=1)
default_hooks = dict(logger=dict(interval=1))
'''


def test_mmpretrain_recipe_with_capsule_head_trains_and_tests(tmp_path):
    rng = np.random.default_rng(0)
    for label in range(10):
        folder = tmp_path / 'images' / str(label)
        folder.mkdir(parents=True)
        cv2.imwrite(str(folder / 'a.png'),
                    rng.integers(0, 256, (32, 32, 3), np.uint8))
    config = tmp_path / 'user_config.py'
    config.write_text(USER_CONFIG.format(images=tmp_path / 'images'))
    work = tmp_path / 'work'
    log = run_in_repo(sys.executable, REPO / 'tools' / 'train.py', config,
                      '--work-dir', work, '--no-validate')
    losses = re.findall(r'Epoch\(train\).*loss: ([\d.]+)', log)
    assert len(losses) == 2  # 10 images, batches of 5
    assert all(0 < float(x) < 10 for x in losses)
    # mmpretrain's runtime has no PlainCheckpointHook; tools/train.py adds
    # it, so the checkpoint loads without trust.
    log = run_in_repo(sys.executable, REPO / 'tools' / 'test.py', config,
                      work / 'epoch_1.pth', '--work-dir', work)
    assert re.search(r'Epoch\(test\).*accuracy/top1: [\d.]+', log)
