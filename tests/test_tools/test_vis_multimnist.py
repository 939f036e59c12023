"""tools/visualization/vis_multimnist.py writes a PNG grid."""
import torch
from conftest import REPO, run_in_repo
from mmengine.config import Config
from mmpretrain.registry import MODELS
from PIL import Image

import mmcaps  # noqa: F401

TINY_MULTIMNIST = '''
_base_ = ['{repo}/configs/multimnist/capsnet_r3-recon_1xb128_multimnist.py']
model = dict(
    backbone=dict(conv1_channels=8, primary_types=2, primary_dim=4),
    head=dict(in_capsules=2 * 10 * 10, in_dim=4, out_dim=4,
              decoder=dict(hidden_dims=(16, ))))
test_dataloader = dict(dataset=dict(
    pairs_per_digit=1,
    dataset=dict(data_root='{data_root}', check_md5=False)))
'''


def test_png_grid(tmp_path, tiny_mnist_root):
    config = tmp_path / 'tiny_multimnist.py'
    config.write_text(
        TINY_MULTIMNIST.format(repo=REPO, data_root=tiny_mnist_root))
    cfg = Config.fromfile(str(config))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    checkpoint = tmp_path / 'tiny.pth'
    torch.save(dict(state_dict=model.state_dict()), checkpoint)
    out = tmp_path / 'grid.png'
    log = run_in_repo('python', 'tools/visualization/vis_multimnist.py',
                      config, checkpoint, '--out', out, '--num', 5,
                      '--cols', 2, '--scale', 2)
    assert 'wrote' in log
    with Image.open(out) as image:
        assert image.format == 'PNG' and image.mode == 'RGB'
        # 2 columns x 3 rows of (input | reconstructions) tiles, 36x36 x2,
        # plus a 14-pixel label line, 4 pixels apart.
        assert image.size == (2 * (2 * 36 * 2 + 4) - 4,
                              3 * (36 * 2 + 14 + 4) - 4)
        pixels = image.load()
        # The reconstructions, in red and green only.
        recon = [pixels[x, y] for x in range(72, 144) for y in range(72)]
        assert any(p != (0, 0, 0) for p in recon)
        assert all(p[2] == 0 for p in recon)
