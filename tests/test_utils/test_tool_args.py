"""merge_args: the one path by which tools/train.py and tools/test.py fold
their options into a config."""
import ast
import os
from argparse import Namespace
from pathlib import Path

import pytest
from mmengine.config import Config

from mmcaps.utils.tool_args import SHOW_SIZE, merge_args

REPO = Path(__file__).resolve().parents[2]
CONFIG = str(REPO / 'configs' / 'capsnet' /
             'capsnet_r3-recon_1xb32-1e_mnist.py')


def args(**options) -> Namespace:
    defaults = dict(config=CONFIG, launcher='none', work_dir=None,
                    cfg_options=None)
    return Namespace(**{**defaults, **options})


def test_work_dir_from_option_config_or_config_name():
    cfg = merge_args(Config.fromfile(CONFIG), args())
    assert cfg.work_dir == './work_dirs/capsnet_r3-recon_1xb32-1e_mnist'
    assert merge_args(Config.fromfile(CONFIG),
                      args(work_dir='w')).work_dir == 'w'


def test_cfg_options_have_the_last_word():
    cfg = merge_args(Config.fromfile(CONFIG), args(
        work_dir='w', checkpoint='a.pth', resume=None,
        cfg_options={'work_dir': 'x', 'load_from': 'b.pth'}))
    assert (cfg.work_dir, cfg.load_from) == ('x', 'b.pth')


def test_training_options():
    cfg = merge_args(Config.fromfile(CONFIG), args(
        amp=True, resume='auto', no_validate=True, auto_scale_lr=True))
    # No GPU here: bfloat16 autocast without loss scaling.
    assert cfg.optim_wrapper.type == 'AutocastOptimWrapper'
    assert cfg.optim_wrapper.dtype == 'bfloat16'
    assert cfg.resume is True and cfg.load_from is None
    assert cfg.val_dataloader is None and cfg.val_cfg is None
    assert cfg.auto_scale_lr.enable is True
    cfg = merge_args(Config.fromfile(CONFIG), args(resume='ckpt.pth'))
    assert cfg.resume is True and cfg.load_from == 'ckpt.pth'


def test_training_writes_plain_checkpoints_whatever_the_runtime():
    cfg = Config.fromfile(CONFIG)
    del cfg.default_hooks['checkpoint_format']
    cfg = merge_args(cfg, args(resume=None))
    assert cfg.default_hooks.checkpoint_format == dict(
        type='PlainCheckpointHook')
    cfg = Config(dict(model=dict()))  # no default_hooks at all
    cfg = merge_args(cfg, args(resume=None))
    assert cfg.default_hooks == dict(
        checkpoint_format=dict(type='PlainCheckpointHook'))
    # Testing leaves the hooks alone.
    cfg = Config.fromfile(CONFIG)
    del cfg.default_hooks['checkpoint_format']
    assert 'checkpoint_format' not in merge_args(
        cfg, args(checkpoint='c.pth')).default_hooks


def test_deterministic_training_fixes_the_cublas_workspace(monkeypatch):
    monkeypatch.delenv('CUBLAS_WORKSPACE_CONFIG', raising=False)
    merge_args(Config.fromfile(CONFIG), args(resume=None))
    assert 'CUBLAS_WORKSPACE_CONFIG' not in os.environ
    merge_args(Config.fromfile(CONFIG), args(
        resume=None, cfg_options={'randomness.deterministic': True}))
    assert os.environ['CUBLAS_WORKSPACE_CONFIG'] == ':4096:8'


def test_testing_options():
    cfg = merge_args(Config.fromfile(CONFIG), args(
        checkpoint='c.pth', show=False, show_dir='vis', interval=3,
        wait_time=1.0))
    assert cfg.load_from == 'c.pth'
    assert cfg.default_hooks.visualization == dict(
        type='VisualizationHook', enable=True, show=False, wait_time=1.0,
        out_dir='vis', interval=3, resize=SHOW_SIZE)


def test_show_needs_the_visualization_hook():
    cfg = Config.fromfile(CONFIG)
    cfg.default_hooks.pop('visualization')
    with pytest.raises(ValueError, match='has no default_hooks.visualization'
                       ": add visualization=dict\\(type='VisualizationHook'"):
        merge_args(cfg, args(show=True, show_dir=None, interval=1,
                             wait_time=0))


@pytest.mark.parametrize('tool', ['train.py', 'test.py'])
def test_both_tools_merge_through_it(tool):
    tree = ast.parse((REPO / 'tools' / tool).read_text())
    imports = {(node.module, alias.name) for node in ast.walk(tree)
               if isinstance(node, ast.ImportFrom) for alias in node.names}
    assert ('mmcaps.utils.tool_args', 'merge_args') in imports
    assert not [node for node in ast.walk(tree)
                if isinstance(node, ast.FunctionDef)
                and node.name == 'merge_args']
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)
             and getattr(node.func, 'id', None) == 'merge_args']
    assert len(calls) == 1
