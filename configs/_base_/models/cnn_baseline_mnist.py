# The baseline CNN of Sabour et al. (2017) for MNIST: conv 256, 256, 128
# (5x5), FC 328, FC 192, dropout, 10-way softmax. 35,445,522 parameters.
model = dict(
    type='ImageClassifier',
    backbone=dict(type='BaselineCNN', in_channels=1, input_size=(28, 28)),
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=192,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
    ),
)
