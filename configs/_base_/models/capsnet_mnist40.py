# The CapsNet of Sabour et al. (2017) on 40x40 inputs (the affNIST
# experiment): Conv1 256@9x9 -> 32x32, PrimaryCaps 32x8D@9x9/2 -> 12x12x32
# = 4608 capsules, DigitCaps 4608x10x8x16 with 3 routing iterations,
# decoder FC 512-1024-1600. 20,992 + 5,308,672 + 5,898,240 + 2,247,744 =
# 13,475,648 parameters (11,227,904 without the decoder).
_base_ = ['./capsnet_mnist.py']
model = dict(
    head=dict(
        in_capsules=4608,
        decoder=dict(out_shape=(1, 40, 40)),
        # W from a truncated normal of std 0.01, as for MultiMNIST's 3200
        # primary capsules: with CapsuleLayer's std 0.1 the 4608 votes make
        # every class capsule 0.98-0.99 long at initialisation on MNIST40
        # digits (0.02-0.07 with 0.01), the saturation that kept the
        # MultiMNIST CapsNet from training.
        init_cfg=dict(
            type='TruncNormal',
            std=0.01,
            a=-0.02,
            b=0.02,
            override=dict(name='capsules'))))
