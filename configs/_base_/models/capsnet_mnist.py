# CapsNet of Sabour, Frosst & Hinton (2017) for 28x28 MNIST:
# Conv1 256@9x9 -> PrimaryCaps 32x8D@9x9/2 (1152 capsules) -> DigitCaps
# 10x16D with 3 routing iterations, margin loss, reconstruction decoder.
# 8,215,568 parameters (6,804,224 without the decoder).
model = dict(
    type='CapsNetClassifier',
    backbone=dict(type='CapsNet', in_channels=1),
    head=dict(
        type='DigitCapsHead',
        num_classes=10,
        in_capsules=1152,
        in_dim=8,
        out_dim=16,
        routing=dict(
            type='DynamicRouting', num_iterations=3,
            detach_intermediate=False),
        loss=dict(type='MarginLoss', m_plus=0.9, m_minus=0.1, lambda_=0.5),
        decoder=dict(
            type='CapsuleDecoder',
            out_shape=(1, 28, 28),
            hidden_dims=(512, 1024)),
        reconstruction_loss=dict(type='ReconstructionLoss',
                                 loss_weight=0.0005),
    ),
)
