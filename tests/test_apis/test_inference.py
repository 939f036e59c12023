"""Image files through mmpretrain's inference APIs and demo/image_demo.py:
a file reaches the model exactly as the dataset's array does."""
import json
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from conftest import REPO, repo_env, run_in_repo, write_tiny_config
from mmpretrain import (ImageClassificationInferencer, get_model,
                        inference_model)

import mmcaps  # noqa: F401


def digit(size=28):
    """A stroke-like test image, (size, size) uint8."""
    img = np.zeros((size, size), np.uint8)
    cv2.circle(img, (size // 2, size // 2), size // 3, 255, max(1, size // 9))
    return img


@pytest.mark.parametrize('name', [
    'capsnet_r3-recon_1xb32-1e_mnist', 'efficient-capsnet_1xb16_mnist',
    'capsnet_r3-recon_1xb128_multimnist', 'cnn-baseline_1xb32-1e_mnist40'
])
def test_png_and_jpeg_give_the_datasets_input(name, tmp_path):
    torch.manual_seed(0)
    model = get_model(name)
    c, h, w = model._config.get('input_shape', (1, 28, 28))
    array = digit(h)
    png = tmp_path / 'digit.png'
    cv2.imwrite(str(png), array)
    # A grey PNG is read as 3 equal BGR channels: back to the same array.
    expected = inference_model(model, array)['pred_scores']
    np.testing.assert_array_equal(
        inference_model(model, str(png))['pred_scores'], expected)
    # A colour JPEG at 3x the size: still a prediction over 10 classes.
    jpeg = tmp_path / 'digit.jpg'
    colour = cv2.resize(cv2.cvtColor(array, cv2.COLOR_GRAY2BGR), (3 * w,
                                                                  3 * h))
    cv2.imwrite(str(jpeg), colour)
    result = ImageClassificationInferencer(model)(str(jpeg))[0]
    assert result['pred_scores'].shape == (10, )
    assert result['pred_class'] == model._dataset_meta['classes'][
        result['pred_label']]


def test_capsule_scores_are_lengths_not_probabilities(tmp_path):
    torch.manual_seed(0)
    model = get_model('capsnet_r3-recon_1xb32-1e_mnist')
    scores = inference_model(model, digit())['pred_scores']
    assert ((scores >= 0) & (scores < 1)).all()
    assert abs(scores.sum() - 1) > 1e-3  # no softmax


def test_image_demo(tiny_mnist_root, tmp_path):
    config = write_tiny_config(tmp_path / 'tiny.py', tiny_mnist_root)
    torch.manual_seed(0)
    model = get_model(str(config))
    checkpoint = tmp_path / 'tiny.pth'
    torch.save({'state_dict': model.state_dict()}, checkpoint)
    image = tmp_path / 'digit.jpg'
    cv2.imwrite(str(image), cv2.cvtColor(digit(56), cv2.COLOR_GRAY2BGR))
    out = run_in_repo(sys.executable, REPO / 'demo' / 'image_demo.py', image,
                      config, '--checkpoint', checkpoint, '--topk', '2')
    result, _ = json.JSONDecoder().raw_decode(out[out.index('{'):])
    expected = ImageClassificationInferencer(model)(str(image))[0]
    assert result['pred_label'] == expected['pred_label']
    assert result['pred_score'] == pytest.approx(expected['pred_score'])
    top2 = np.argsort(-expected['pred_scores'])[:2].tolist()
    assert [t['label'] for t in result['topk']] == top2
    # A checkpoint that does not cover the model is refused, not half used.
    state = model.state_dict()
    del state['head.capsules.weight']
    torch.save({'state_dict': state}, checkpoint)
    proc = subprocess.run(
        [sys.executable, REPO / 'demo' / 'image_demo.py', image, config,
         '--checkpoint', checkpoint], cwd=REPO, env=repo_env(),
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    assert 'head.capsules.weight' in proc.stderr
    assert 'pred_label' not in proc.stdout
