"""Issue 12's layout: routings and layers are packages of their own,
models/utils holds functions and the data preprocessors, one routing
contract without flags, the public names and registry names of before,
and tests that mirror the tree."""
import ast
import importlib
import inspect
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import torch.nn as nn
from mmpretrain.registry import MODELS

import mmcaps.models
import mmcaps.models.utils

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / 'mmcaps'

# What `mmcaps.models` exported at commit 7004842, before the restructuring
# (NaiveCapsuleLayer, a test reference, moved to mmcaps.testing).
PUBLIC_BEFORE = [
    'BaseRouting', 'BaselineCNN', 'CapsNet', 'CapsNetClassifier',
    'CapsuleDecoder', 'CapsuleLayer', 'ClassMatrixCaps', 'ConvMatrixCaps',
    'DigitCapsHead', 'DynamicRouting', 'EMRouting', 'EfficientCapsNet',
    'MarginLoss', 'MatrixCapsHead', 'MatrixCapsNet', 'PrimaryCaps',
    'PrimaryCapsNeck', 'PrimaryMatrixCaps', 'RandomShiftDataPreprocessor',
    'ReconstructionLoss', 'SelfAttentionRouting', 'SpreadLoss', 'Squash',
    'build_routing', 'capsule_length', 'channels_to_capsules',
    'coordinate_offsets', 'em_routing', 'labels_to_targets', 'random_shift',
    'squash', 'squash_efficient'
]
# The MODELS names mmcaps registered at commit 7004842.
REGISTERED_BEFORE = [
    'BaselineCNN', 'CapsNet', 'CapsNetClassifier', 'CapsuleDecoder',
    'CapsuleLayer', 'ClassMatrixCaps', 'ConvMatrixCaps',
    'DepthwisePrimaryCaps', 'DigitCapsHead', 'DynamicRouting', 'EMRouting',
    'EfficientCapsNet', 'MarginLoss', 'MatrixCapsHead', 'MatrixCapsNet',
    'PrimaryCaps', 'PrimaryCapsNeck', 'PrimaryMatrixCaps',
    'RandomShiftDataPreprocessor', 'ReconstructionLoss',
    'SelfAttentionRouting', 'SpreadLoss'
]


def test_subpackages_import_on_their_own():
    # The check, in a fresh interpreter: no import-order luck.
    subprocess.run(
        [sys.executable, '-c', 'import mmcaps.models.routings, '
         'mmcaps.models.layers'], cwd=REPO, check=True, capture_output=True)


def test_models_utils_holds_no_module_but_the_data_preprocessors():
    modules = [mmcaps.models.utils] + [
        importlib.import_module(info.name) for info in pkgutil.walk_packages(
            mmcaps.models.utils.__path__, 'mmcaps.models.utils.')
    ]
    assert {m.__name__.rsplit('.', 1)[-1] for m in modules[1:]} >= {
        'squash', 'capsule_ops', 'targets', 'data_preprocessor'}
    defined = {
        f'{module.__name__}.{name}'
        for module in modules
        for name, obj in vars(module).items()
        if inspect.isclass(obj) and obj.__module__ == module.__name__
        and issubclass(obj, nn.Module)
    }
    assert defined == {
        'mmcaps.models.utils.data_preprocessor.CapsDataPreprocessor',
        'mmcaps.models.utils.data_preprocessor.RandomShiftDataPreprocessor',
    }


def test_no_signature_inspection_or_capability_flags():
    # grep -rn "inspect.signature\|uses_activations" mmcaps/ (bytecode
    # caches of deleted modules aside).
    pattern = re.compile(r'inspect\.signature|uses_activations')
    hits = [
        f'{path.relative_to(REPO)}:{number}'
        for path in sorted(PACKAGE.rglob('*'))
        if path.is_file() and '__pycache__' not in path.parts
        for number, line in enumerate(
            path.read_text(errors='replace').splitlines(), 1)
        if pattern.search(line)
    ]
    assert hits == []
    # The same check really finds them (what it searched is not empty).
    assert pattern.search('a = cls.uses_activations')
    assert (PACKAGE / 'models' / 'routings' / 'base_routing.py').is_file()


def test_public_and_registry_names_are_kept():
    missing = [n for n in PUBLIC_BEFORE if not hasattr(mmcaps.models, n)]
    assert missing == []
    unregistered = [n for n in REGISTERED_BEFORE if MODELS.get(n) is None]
    assert unregistered == []
    # Each name is the one class, whichever package it is imported from.
    from mmcaps.models import layers, routings, utils
    assert mmcaps.models.CapsuleLayer is layers.CapsuleLayer is MODELS.get(
        'CapsuleLayer')
    assert mmcaps.models.EMRouting is routings.EMRouting
    assert mmcaps.models.squash is utils.squash
    assert MODELS.get('MatrixEMRouting') is routings.MatrixEMRouting
    assert MODELS.get('CapsDataPreprocessor') is utils.CapsDataPreprocessor


def _imported_modules(path: Path) -> set:
    """The modules that a source file imports (relative ones by name)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            names.add(('.' * node.level) + (node.module or ''))
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_heads_share_a_base_not_each_other():
    heads = PACKAGE / 'models' / 'heads'
    assert _imported_modules(heads / 'digitcaps_head.py') >= {
        '.base_caps_head'}
    assert _imported_modules(heads / 'matrix_caps_head.py') >= {
        '.base_caps_head'}
    assert not any('matrix_caps_head' in m
                   for m in _imported_modules(heads / 'digitcaps_head.py'))
    assert not any('digitcaps_head' in m
                   for m in _imported_modules(heads / 'matrix_caps_head.py'))


# Test files named otherwise than test_<module>.py.
TEST_NAMES = {'layers/squash.py': 'test_squash_module.py'}


def test_tests_mirror_the_capsule_packages():
    missing = []
    for package in ('routings', 'layers', 'utils'):
        for source in sorted((PACKAGE / 'models' / package).glob('*.py')):
            if source.name == '__init__.py':
                continue
            name = TEST_NAMES.get(f'{package}/{source.name}',
                                  f'test_{source.name}')
            test = REPO / 'tests' / 'test_models' / f'test_{package}' / name
            if not test.is_file():
                missing.append(str(test.relative_to(REPO)))
    testing = REPO / 'tests' / 'test_testing'
    if not (testing / 'test_naive_capsule_layer.py').is_file():
        missing.append('tests/test_testing/test_naive_capsule_layer.py')
    assert missing == []


def test_test_basenames_are_unique():
    # tests/ has no __init__.py files: pytest imports test modules by
    # basename.
    names = [p.name for p in (REPO / 'tests').rglob('test_*.py')]
    assert sorted({n for n in names if names.count(n) > 1}) == []
