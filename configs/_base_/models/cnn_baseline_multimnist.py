# The MultiMNIST baseline CNN of Sabour et al. (2017) on 36x36 inputs:
# conv 512@9x9 + 2x2 max pool, conv 256@5x5 + 2x2 max pool ('same'
# convolutions: 36 -> 18 -> 9), FC 1024, 10 sigmoid outputs with binary
# cross entropy. 24,553,728 + 10,250 = 24,563,978 parameters (the paper:
# 24.56 M).
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='BaselineCNN',
        in_channels=1,
        input_size=(36, 36),
        conv_channels=(512, 256),
        kernel_sizes=(9, 5),
        pool=True,
        fc_channels=(1024, )),
    head=dict(
        type='MultiLabelLinearClsHead',
        num_classes=10,
        in_channels=1024,
        loss=dict(type='CrossEntropyLoss', use_sigmoid=True),
    ),
)
