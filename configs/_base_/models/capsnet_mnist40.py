# The CapsNet of Sabour et al. (2017) on 40x40 inputs (the affNIST
# experiment): Conv1 256@9x9 -> 32x32, PrimaryCaps 32x8D@9x9/2 -> 12x12x32
# = 4608 capsules, DigitCaps 4608x10x8x16 with 3 routing iterations,
# decoder FC 512-1024-1600. 20,992 + 5,308,672 + 5,898,240 + 2,247,744 =
# 13,475,648 parameters (11,227,904 without the decoder).
_base_ = ['./capsnet_mnist.py']
model = dict(
    head=dict(
        in_capsules=32 * 12 * 12,
        decoder=dict(out_shape=(1, 40, 40)),
        # 4608 votes saturate the class capsules with W of std 0.1.
        init_std=0.01))
