"""DumpPredictions: a test run's predictions as .pkl (tensors) or .json."""
import json
import pickle

import numpy as np
import pytest
import torch
from mmpretrain.structures import DataSample

from mmcaps.evaluation import DumpPredictions


def samples():
    out = []
    for i in range(2):
        sample = DataSample(metainfo=dict(sample_idx=i, img_shape=(28, 28)))
        sample.set_gt_label(3).set_pred_score(
            torch.tensor([0.1, 0.9])).set_pred_label(1)
        out.append(sample.to_dict())
    return out


def test_json_holds_numbers(tmp_path):
    metric = DumpPredictions(str(tmp_path / 'preds.json'))
    metric.process({}, samples())
    assert metric.evaluate(2) == {}
    preds = json.loads((tmp_path / 'preds.json').read_text())
    assert [p['sample_idx'] for p in preds] == [0, 1]
    assert preds[0]['pred_score'] == pytest.approx([0.1, 0.9])
    assert preds[0]['pred_label'] == [1] and preds[0]['gt_label'] == [3]
    assert preds[0]['img_shape'] == [28, 28]


def test_pickle_keeps_tensors(tmp_path):
    metric = DumpPredictions(str(tmp_path / 'preds.pkl'))
    metric.process({}, samples())
    metric.evaluate(2)
    preds = pickle.loads((tmp_path / 'preds.pkl').read_bytes())
    torch.testing.assert_close(preds[1]['pred_score'],
                               torch.tensor([0.1, 0.9]))


def test_other_formats_are_refused():
    with pytest.raises(ValueError, match=r'out_file_path must end in \.pkl, '
                       r'\.pickle, \.json, got preds\.csv'):
        DumpPredictions('preds.csv')


def test_numpy_values_become_lists(tmp_path):
    metric = DumpPredictions(str(tmp_path / 'p.json'))
    metric.process({}, [{'a': np.arange(3), 'b': np.float32(0.5)}])
    metric.evaluate(1)
    assert json.loads((tmp_path / 'p.json').read_text()) == [
        {'a': [0, 1, 2], 'b': 0.5}]
