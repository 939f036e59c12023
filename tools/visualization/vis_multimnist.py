"""Draw MultiMNIST inputs with their two reconstructions (the paper's
Figure 5): ``vis_reconstructions.py`` with ``multimnist.png`` as the
default output.

Each tile shows, left, the input overlay (grey) and, right, the decoder's
reconstructions from the two longest class capsules, the longest in red
and the second in green (overlaps come out yellow); under them the true
labels and the predicted ones (red when the pair is wrong). Tiles are 4
pixels apart, so the PNG is ``cols * (2 * W * scale + 4) - 4`` by
``rows * (H * scale + 14 + 4) - 4`` pixels.

Example::

    python tools/visualization/vis_multimnist.py \\
        configs/multimnist/capsnet_r3-recon_1xb128_multimnist.py \\
        work_dirs/capsnet_r3-recon_1xb128_multimnist/epoch_1.pth \\
        --out multimnist.png --cfg-options \\
        test_dataloader.dataset.dataset.data_root=data/mnist
"""
from mmcaps.visualization import draw_reconstructions

if __name__ == '__main__':
    draw_reconstructions(description=__doc__, default_out='multimnist.png')
