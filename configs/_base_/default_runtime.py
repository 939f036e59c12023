default_scope = 'mmpretrain'
# Registers mmcaps' modules when a config is used with mmpretrain's own tools.
custom_imports = dict(imports=['mmcaps'], allow_failed_imports=False)

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # CheckpointHook's options; writes each file to a temporary name and
    # renames it, so a crash never leaves a truncated latest checkpoint.
    checkpoint=dict(
        type='AtomicCheckpointHook', interval=1, max_keep_ckpts=3),
    # Checkpoints hold tensors and plain containers only (the message hub's
    # history as tensors), so they load with weights_only=True and torch's
    # default allow-list.
    checkpoint_format=dict(type='PlainCheckpointHook'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='VisualizationHook', enable=False),
)

custom_hooks = [
    # Stop at the first NaN/inf loss, before it is checkpointed.
    dict(type='FiniteLossHook'),
    # Head and data must agree on the number of classes.
    dict(type='NumClassesCheckHook'),
    # Dropout and batch-wise shifts of iteration i drawn from (seed, i,
    # rank), so a resumed run draws what the uninterrupted one drew.
    dict(type='IterationSeedHook'),
]

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # tools/train.py and tools/test.py switch to gloo without a GPU.
    dist_cfg=dict(backend='nccl'),
)

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='UniversalVisualizer', vis_backends=vis_backends)

log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0, deterministic=False)
