# The MultiMNIST CapsNet of Sabour et al. (2017) on 36x36 inputs:
# Conv1 256@9x9 -> 28x28, PrimaryCaps 32x8D@9x9/2 -> 10x10x32 = 3200
# capsules, DigitCaps 3200x10x8x16 with 3 routing iterations, margin loss
# on both digits, one reconstruction per digit (FC 512-1024-1296).
# 20,992 + 5,308,672 + 4,096,000 + 1,936,144 = 11,361,808 parameters
# (the paper: 11.36 M).
model = dict(
    type='CapsNetClassifier',
    backbone=dict(type='CapsNet', in_channels=1),
    head=dict(
        type='DigitCapsHead',
        num_classes=10,
        in_capsules=3200,
        in_dim=8,
        out_dim=16,
        routing=dict(
            type='DynamicRouting', num_iterations=3,
            detach_intermediate=False),
        loss=dict(type='MarginLoss', m_plus=0.9, m_minus=0.1, lambda_=0.5),
        decoder=dict(
            type='CapsuleDecoder',
            out_shape=(1, 36, 36),
            hidden_dims=(512, 1024)),
        reconstruction_loss=dict(type='ReconstructionLoss',
                                 loss_weight=0.0005),
        # The two longest capsules are the prediction.
        num_predictions=2,
        # W from a truncated normal of std 0.01, not CapsuleLayer's 0.1 (the
        # official code's MNIST value): with 3200 primary capsules, std 0.1
        # saturated every class capsule (margin loss stuck at ~3.2, 97.3 %
        # error after 12,000 pairs: logs/capsnet_r3-recon_multimnist_
        # 12k-pairs_b32_cpu_init01.log).
        init_cfg=dict(
            type='TruncNormal',
            std=0.01,
            a=-0.02,
            b=0.02,
            override=dict(name='capsules')),
    ),
)
