"""configs/capsule_heads: twins, class counts, and each config's data path
on generated stand-ins of MNIST, Fashion-MNIST, CIFAR-10, SVHN and
ImageNet."""
import pickle
import re
from pathlib import Path

import mmcv
import numpy as np
import pytest
import torch
from conftest import write_tiny_mnist
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmpretrain.datasets import CIFAR10
from mmpretrain.registry import DATASETS, MODELS
from mmpretrain.structures import DataSample

import mmcaps  # noqa: F401
from mmcaps.datasets import write_idx

REPO = Path(__file__).resolve().parents[1]
CONFIG_DIR = REPO / 'configs' / 'capsule_heads'
# A capsule head's variant (its routing) may follow the module name, as in
# _capsule-head-selfattn_; the variants of a trunk share one linear twin.
CAPSULE_CONFIGS = sorted(CONFIG_DIR.glob('*_capsule-head*_*.py'))
ALL_CONFIGS = sorted(CONFIG_DIR.glob('*.py'))


def linear_twin(capsule: Path) -> Path:
    return capsule.with_name(
        re.sub(r'_capsule-head(-[a-z0-9]+)?_', '_linear-head_',
               capsule.name))


# Capsule configs with a linear twin; the others are training budgets of
# one of these (e.g. 1xb32-3e: the model zoo's three-epoch CPU run).
TWINNED = [p for p in CAPSULE_CONFIGS if linear_twin(p).is_file()]
# '-pre' configs: a random-init config's model with the trunk's pretrained
# weights, on its data, with a fine-tuning schedule.
PRETRAINED = [p for p in ALL_CONFIGS if '-pre_' in p.name]


def random_init_twin(pretrained: Path) -> Path:
    """``T-pre_HEAD_8xb32-SCHEDULE_in1k.py`` -> ``T_HEAD_8xb32_in1k.py``."""
    name = pretrained.name.replace('-pre_', '_', 1)
    return pretrained.with_name(re.sub(r'(_\d+xb\d+)-[^_]+_', r'\1_', name))


NUM_TRAIN, NUM_TEST = 6, 4


def build_model(cfg: Config) -> torch.nn.Module:
    """The config's model; a pretrained trunk's weights, which the tests
    cannot download, are left random."""
    model_cfg = cfg.model.copy()
    if model_cfg.backbone.get('pretrained', False):
        model_cfg.backbone.pretrained = False
    model_cfg.setdefault('data_preprocessor', cfg.get('data_preprocessor'))
    return MODELS.build(model_cfg)


def train_step(model: torch.nn.Module, data: dict) -> dict:
    """Loss and backward of one batch; returns the losses."""
    model.train()
    losses = model(**model.data_preprocessor(data, True), mode='loss')
    loss = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(loss)
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all()
               for p in model.parameters() if p.requires_grad)
    return losses


def test_every_capsule_config_has_a_linear_twin():
    assert len(TWINNED) >= 5
    linear = {p.name for p in ALL_CONFIGS if '_linear-head_' in p.name}
    assert {linear_twin(p).name for p in TWINNED} == linear
    assert {p.name for p in ALL_CONFIGS} == (
        {p.name for p in CAPSULE_CONFIGS} | {linear_twin(p).name
                                             for p in TWINNED})
    # A capsule config without a twin trains the model, with the data, of
    # one with a twin: only its schedule differs.
    keys = ('model', 'data_preprocessor', 'input_shape', 'dataset_type')
    twinned = [{k: Config.fromfile(str(p)).to_dict().get(k) for k in keys}
               for p in TWINNED]
    for capsule in set(CAPSULE_CONFIGS) - set(TWINNED):
        cfg = Config.fromfile(str(capsule)).to_dict()
        assert {k: cfg.get(k) for k in keys} in twinned, capsule.name


@pytest.mark.parametrize('capsule', TWINNED, ids=lambda p: p.stem)
def test_twins_differ_only_in_neck_and_head(capsule):
    twin = linear_twin(capsule)
    caps_cfg = Config.fromfile(str(capsule)).to_dict()
    twin_cfg = Config.fromfile(str(twin)).to_dict()
    assert caps_cfg['model']['head']['type'] == 'DigitCapsHead'
    assert caps_cfg['model']['neck']['type'] == 'PrimaryCapsNeck'
    assert twin_cfg['model']['head']['type'] == 'LinearClsHead'
    # The classifier type too: CapsNetClassifier hands the decoder the raw
    # image, and is ImageClassifier otherwise.
    for cfg in (caps_cfg, twin_cfg):
        for key in ('type', 'neck', 'head'):
            del cfg['model'][key]
    # The variables of _base_/models/capsule_head.py that the model uses.
    for key in ('capsule_types', 'capsule_neck', 'capsule_head',
                'capsule_grid'):
        del caps_cfg[key]
    assert caps_cfg == twin_cfg


@pytest.mark.parametrize('config', PRETRAINED, ids=lambda p: p.stem)
def test_pretrained_configs_train_their_random_init_twin(config):
    """Only the trunk's weights and the schedule differ, so the stand-in
    data test below need not run the '-pre' configs again."""
    keys = ('model', 'data_preprocessor', 'input_shape', 'train_dataloader',
            'val_dataloader', 'test_dataloader')
    pre = Config.fromfile(str(config)).to_dict()
    scratch = Config.fromfile(str(random_init_twin(config))).to_dict()
    assert pre['model']['backbone'].pop('pretrained') is True
    assert scratch['model']['backbone'].pop('pretrained') is False
    assert {k: pre.get(k) for k in keys} == {k: scratch.get(k) for k in keys}
    assert pre['train_cfg']['max_epochs'] < scratch['train_cfg']['max_epochs']


@pytest.mark.parametrize('num_classes', [2, 10, 100])
def test_capsule_head_with_any_number_of_classes(num_classes):
    cfg = Config.fromfile(
        str(CONFIG_DIR / 'timm-resnet18-os8_capsule-head_1xb128_cifar10.py'))
    cfg.merge_from_dict({
        'model.head.num_classes': num_classes,
        'data_preprocessor.num_classes': num_classes
    })
    torch.manual_seed(0)
    model = build_model(cfg)
    # One 16-D capsule per class, and the decoder reads all of them.
    assert model.head.capsules.weight.shape == (512, 8, num_classes * 16)
    assert model.head.decoder.num_capsules == num_classes
    labels = (0, num_classes - 1)
    data = dict(
        inputs=list(torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)),
        data_samples=[DataSample().set_gt_label(i) for i in labels])
    assert set(train_step(model, data)) == {'loss_margin', 'loss_recon'}
    model.eval()
    with torch.no_grad():
        preds = model(**model.data_preprocessor(data), mode='predict')
    assert [p.pred_score.shape for p in preds] == [(num_classes, )] * 2


# Stand-ins in each dataset's own file format: NUM_TRAIN training and
# NUM_TEST test images, so that a loader reading the wrong split shows.


def write_mnist(root: Path) -> dict:
    write_tiny_mnist(root, NUM_TRAIN, NUM_TEST)
    return dict(check_md5=False)


def write_fashion_mnist(root: Path) -> dict:
    """mmpretrain's FashionMNIST reads the files gunzipped."""
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    for prefix, n in (('train', NUM_TRAIN), ('t10k', NUM_TEST)):
        write_idx(str(root / f'{prefix}-images-idx3-ubyte'),
                  rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(str(root / f'{prefix}-labels-idx1-ubyte'),
                  np.arange(n, dtype=np.uint8) % 10)
    return {}


def write_cifar10(root: Path) -> dict:
    """The python version's pickles (their MD5 check is switched off by the
    test, as stand-ins cannot match it)."""
    rng = np.random.default_rng(0)
    folder = root / 'cifar-10-batches-py'
    folder.mkdir(parents=True)
    sizes = dict.fromkeys([f'data_batch_{i}' for i in range(1, 6)], 0)
    sizes['data_batch_1'] = NUM_TRAIN
    sizes['test_batch'] = NUM_TEST
    for name, n in sizes.items():
        entry = {
            'data': rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            'labels': [i % 10 for i in range(n)]
        }
        (folder / name).write_bytes(pickle.dumps(entry))
    return {}


def write_svhn(root: Path) -> dict:
    savemat = pytest.importorskip('scipy.io').savemat
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    for split, n in (('train', NUM_TRAIN), ('test', NUM_TEST)):
        savemat(str(root / f'{split}_32x32.mat'), {
            'X': rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8),
            'y': (np.arange(n, dtype=np.uint8) % 10 + 1)[:, None]
        })
    return dict(check_md5=False)


def write_imagenet(root: Path) -> dict:
    """mmpretrain's ImageNet layout: JPEG files of assorted sizes in train/
    and val/, listed with their labels in meta/train.txt and
    meta/val.txt."""
    rng = np.random.default_rng(0)
    (root / 'meta').mkdir(parents=True)
    for split, n in (('train', NUM_TRAIN), ('val', NUM_TEST)):
        lines = []
        for i in range(n):
            height, width = (int(x) for x in rng.integers(60, 300, 2))
            name = f'{split}/n{i:08d}.JPEG'
            mmcv.imwrite(
                rng.integers(0, 256, (height, width, 3), dtype=np.uint8),
                str(root / name))
            lines.append(f'{name[len(split) + 1:]} {i * 137 % 1000}')
        (root / 'meta' / f'{split}.txt').write_text('\n'.join(lines))
    return {}


STANDINS = {
    'mnist': write_mnist,
    'fashion-mnist': write_fashion_mnist,
    'cifar10': write_cifar10,
    'svhn': write_svhn,
    'in1k': write_imagenet,
}


@pytest.mark.parametrize('config',
                         [p for p in ALL_CONFIGS if p not in PRETRAINED],
                         ids=lambda p: p.stem)
def test_config_trains_on_standin_data(config, tmp_path, monkeypatch):
    """The config's datasets and pipelines read a stand-in of the dataset
    (train and test splits from their own files), and its model trains on
    a batch of it."""
    writer = STANDINS[config.stem.rsplit('_', 1)[-1]]
    overrides = writer(tmp_path)
    for attr in ('train_list', 'test_list'):
        monkeypatch.setattr(
            CIFAR10, attr,
            [[name, None] for name, _ in getattr(CIFAR10, attr)])
    cfg = Config.fromfile(str(config))
    datasets = {}
    for loader in ('train_dataloader', 'test_dataloader'):
        dataset_cfg = cfg[loader].dataset.copy()
        dataset_cfg.update(data_root=str(tmp_path), **overrides)
        datasets[loader] = DATASETS.build(dataset_cfg)
    assert len(datasets['train_dataloader']) == NUM_TRAIN
    assert len(datasets['test_dataloader']) == NUM_TEST
    shape = tuple(cfg.get('input_shape', (1, 28, 28)))
    torch.manual_seed(0)
    model = build_model(cfg)
    batch = pseudo_collate([datasets['train_dataloader'][i] for i in range(4)])
    assert batch['inputs'][0].shape == shape
    train_step(model, batch)
    model.eval()
    batch = pseudo_collate([datasets['test_dataloader'][i] for i in range(4)])
    with torch.no_grad():
        preds = model(**model.data_preprocessor(batch), mode='predict')
    assert [p.pred_score.shape
            for p in preds] == [(cfg.model.head.num_classes, )] * 4
