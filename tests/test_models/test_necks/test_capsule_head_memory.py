"""Memory of a capsule head on a ResNet-50 trunk at 224x224, batch 32."""
import torch
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import mmcaps  # noqa: F401
from mmcaps.models.heads import DigitCapsHead
from mmcaps.models.necks import PrimaryCapsNeck
from mmcaps.utils import peak_cpu_allocated

MiB = 1 << 20


def test_capsule_part_on_resnet50_at_224(capsys):
    """Neck + head forward, margin loss and backward on the (32, 2048, 7, 7)
    last map of a ResNet-50 at 224x224: 32 * 7 * 7 = 1568 primary capsules,
    whose prediction tensor (B, 10, 1568, 16) is 30.6 MiB in fp32.

    What is measured: the trunk runs once, at batch 1, for the shape of its
    output; the neck and head then run on a random map of that shape at
    batch 32 (the values do not change the memory) that requires a gradient
    as the trunk's output would. The trunk's own activations are not
    counted. No decoder: a fully connected decoder to 3x224x224 pixels would
    alone hold 154 M weights.
    """
    batch, num_classes = 32, 10
    trunk = MODELS.build(
        dict(type='TIMMBackbone', model_name='resnet50', pretrained=False,
             features_only=False))
    with torch.no_grad():
        shape = trunk(torch.rand(1, 3, 224, 224))[-1].shape[1:]
    assert shape == (2048, 7, 7)
    torch.manual_seed(0)
    neck = PrimaryCapsNeck(2048, num_types=32, capsule_dim=8,
                           in_size=shape[1:])
    head = DigitCapsHead(num_classes, neck.out_capsules, out_dim=16)
    feats = (torch.rand(batch, *shape).requires_grad_(), )
    samples = [DataSample().set_gt_label(i % num_classes)
               for i in range(batch)]

    def step():
        losses = head.loss(neck(feats), samples)
        sum(losses.values()).backward()

    peak = peak_cpu_allocated(step)
    u_hat = batch * num_classes * neck.out_capsules * 16 * 4
    with capsys.disabled():
        print(f'\ncapsule neck + head on ResNet-50 7x7 map, batch {batch}: '
              f'peak {peak / MiB:.1f} MiB allocated, prediction tensor '
              f'{u_hat / MiB:.1f} MiB')
    # The prediction tensor must have been allocated (the measurement
    # works), and the whole step stays within a few of them.
    assert u_hat <= peak < 256 * MiB
