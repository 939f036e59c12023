# Efficient-CapsNet of Mazzia, Salvetti & Chiaberge (2021) for 28x28 MNIST:
# Conv 32@5x5, 64@3x3, 64@3x3, 128@3x3/2 (each ReLU then BN) -> depthwise
# PrimaryCaps 128@9x9 (16 capsules of 8-D) -> FCCaps 10x16D with
# self-attention routing, margin loss, reconstruction decoder.
# 161,824 parameters without the decoder (the paper's count),
# 1,573,168 with it.
model = dict(
    type='CapsNetClassifier',
    backbone=dict(type='EfficientCapsNet', in_channels=1),
    head=dict(
        type='DigitCapsHead',
        num_classes=10,
        in_capsules=16,
        in_dim=8,
        out_dim=16,
        routing=dict(type='SelfAttentionRouting', squash='efficient'),
        loss=dict(type='MarginLoss', m_plus=0.9, m_minus=0.1, lambda_=0.5),
        decoder=dict(
            type='CapsuleDecoder',
            out_shape=(1, 28, 28),
            hidden_dims=(512, 1024)),
        # The official code: 0.392 x the mean squared pixel error, i.e.
        # 0.392 / 784 = 0.0005 x the sum, as in Sabour et al.
        reconstruction_loss=dict(type='ReconstructionLoss',
                                 loss_weight=0.0005),
        # Keras' he_normal on the official W (10, 16, 8, 16): fan_in
        # 8 * 10 * 16 = 1280, truncated normal of std
        # sqrt(2 / 1280) / 0.8796 cut at 2 std.
        init_std=0.04494,
    ),
)
