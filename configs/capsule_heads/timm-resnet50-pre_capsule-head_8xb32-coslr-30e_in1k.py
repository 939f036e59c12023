# timm-resnet50_capsule-head_8xb32_in1k.py with the trunk initialised from
# timm's ImageNet-1k weights (pretrained=True: timm downloads them from the
# Hugging Face hub and loads safetensors or weights_only) and a fine-tuning
# schedule: 30 epochs, the trunk at a tenth of the head's learning rate.
# W's init_std is the one measured on the random-init trunk (no pretrained
# weights could be fetched here).
_base_ = [
    '../_base_/models/timm_resnet50_capsule.py',
    '../_base_/datasets/imagenet_bs32.py',
    '../_base_/schedules/imagenet_bs256_coslr_30e_finetune_amp.py',
    '../_base_/default_runtime.py'
]

model = dict(backbone=dict(pretrained=True))
