"""Draw test inputs next to the images decoded from their class capsules.

Each tile shows, left, the input and, right, the decoder's reconstruction
from the predicted class's capsule alone (the others masked), as at test
time. With several predictions per image (MultiMNIST, ``--top 2``, the
head's ``num_predictions`` by default) each predicted capsule is decoded
alone and the reconstructions are overlaid, the longest capsule's in red,
the second's in green (overlaps come out yellow): the paper's Figure 5.
Under each tile the true and predicted classes, in red when they differ.

Tiles are 4 pixels apart: the PNG is ``cols * (2 * W * scale + 4) - 4`` by
``rows * (H * scale + 14 + 4) - 4`` pixels for ``H x W`` inputs and
``rows = ceil(num / cols)``.

Example (MNIST)::

    python tools/visualization/vis_reconstructions.py \\
        configs/capsnet/capsnet_r3-recon_1xb64-1e_mnist.py \\
        work_dirs/capsnet_r3-recon_1xb64-1e_mnist/epoch_1.pth \\
        --out reconstructions.png \\
        --cfg-options test_dataloader.dataset.data_root=data/mnist
"""
from mmcaps.visualization import draw_reconstructions

if __name__ == '__main__':
    draw_reconstructions(description=__doc__)
