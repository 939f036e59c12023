# The MultiMNIST CapsNet of Sabour et al. (2017) on 36x36 inputs:
# Conv1 256@9x9 -> 28x28, PrimaryCaps 32x8D@9x9/2 -> 10x10x32 = 3200
# capsules, DigitCaps 3200x10x8x16 with 3 routing iterations, margin loss
# on both digits, one reconstruction per digit (FC 512-1024-1296).
# 20,992 + 5,308,672 + 4,096,000 + 1,936,144 = 11,361,808 parameters
# (the paper: 11.36 M).
_base_ = ['./capsnet_mnist.py']
model = dict(
    head=dict(
        in_capsules=32 * 10 * 10,
        decoder=dict(out_shape=(1, 36, 36)),
        # The two longest capsules are the prediction.
        num_predictions=2,
        # 3200 votes saturate the class capsules with W of std 0.1.
        init_std=0.01))
