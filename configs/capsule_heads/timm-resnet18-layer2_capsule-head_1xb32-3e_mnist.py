# timm-resnet18-layer2_capsule-head_1xb128_mnist.py on the CapsNet's
# three-epoch CPU budget: batch 32, lr 1e-3 annealed to zero over 3 epochs.
_base_ = [
    '../_base_/models/timm_resnet18_layer2_mnist_capsule.py',
    '../_base_/datasets/mnist_bs128.py',
    '../_base_/schedules/adam_cosine_1e.py', '../_base_/default_runtime.py'
]

train_dataloader = dict(batch_size=32)
param_scheduler = dict(T_max=3)
train_cfg = dict(max_epochs=3)
