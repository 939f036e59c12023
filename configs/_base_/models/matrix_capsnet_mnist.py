# Matrix capsules with EM routing (Hinton, Sabour & Frosst, ICLR 2018), the
# paper's small model (A=64, B=8, C=D=16) for 28x28 MNIST: ReLU Conv1
# 64@5x5/2 (12x12) -> PrimaryCaps 8 types of 4x4 poses (1x1 conv) ->
# ConvCaps1 16 types (K=3, stride 2; 5x5) -> ConvCaps2 16 types (K=3,
# stride 1; 3x3) -> 10 class capsules (coordinate addition), 3 EM
# iterations in every routed layer, spread loss.
# 68,444 parameters (65,864 in the backbone, 2,580 in the head).
routing = dict(
    type='MatrixEMRouting', num_iterations=3, final_lambda=0.01,
    lambda_decay=0.95)
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='MatrixCapsNet',
        in_channels=1,
        conv1_channels=64,
        primary_types=8,
        caps1_types=16,
        caps2_types=16,
        routing=routing),
    head=dict(
        type='MatrixCapsHead',
        num_classes=10,
        in_types=16,
        coord_add=True,
        routing=routing,
        loss=dict(type='SpreadLoss', margin=0.9, start_margin=0.2,
                  warmup_iters=0)),
)
