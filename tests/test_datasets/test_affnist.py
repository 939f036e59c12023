"""AffNIST from stand-in .mat files of the official layout, and the configs
of the affNIST experiment (parameter counts, data to model)."""
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmpretrain.registry import DATASETS, MODELS

from mmcaps.datasets import AffNIST

savemat = pytest.importorskip('scipy.io').savemat

REPO = Path(__file__).resolve().parents[2]


def upright_f(value=255):
    """A 40x40 'F': a bar down the left, a long bar along the top, a short
    one half-way down. Neither transpose nor flip leaves it unchanged."""
    img = np.zeros((40, 40), np.uint8)
    img[4:36, 8:12] = value  # the stem, on the left
    img[4:8, 8:30] = value  # the top bar, long
    img[18:22, 8:22] = value  # the middle bar, shorter
    return img


def write_affnist_mat(path, images, labels, **fields):
    """An affNIST-format file: struct affNISTdata with image (1600, N) uint8,
    one image per column, row by row, and label_int (1, N), plus the other
    fields of the official files (their content unused here)."""
    images = np.asarray(images, np.uint8)
    n = len(images)
    labels = np.asarray(labels, np.uint8)
    struct = dict(
        affine_transform=np.zeros((6, n)),
        image=images.reshape(n, 1600).T,
        human_readable_transform=np.zeros((7, n)),
        label_int=labels[None],
        label_one_of_n=np.eye(10)[labels % 10].T)
    struct.update(fields)
    savemat(str(path), {'affNISTdata': struct})


def random_images(n, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 40, 40),
                                                dtype=np.uint8)


def test_reads_images_upright_with_their_labels(tmp_path):
    images = random_images(3)
    images[1] = upright_f(200)
    write_affnist_mat(tmp_path / 'test.mat', images, [7, 0, 9])
    ds = AffNIST(str(tmp_path))
    assert len(ds) == 3 and ds.test_mode
    assert [ds.get_data_info(i)['gt_label'] for i in range(3)] == [7, 0, 9]
    f = ds.get_data_info(1)['img']
    assert f.shape == (40, 40) and f.dtype == np.uint8
    np.testing.assert_array_equal(f, upright_f(200))
    # Upright, spelt out: the long bar at the top, the stem on the left.
    assert f[5, 8:30].all() and not f[5, 30:].any()
    assert f[4:36, 9].all() and not f[34, 12:].any()
    for i in (0, 2):
        np.testing.assert_array_equal(ds.get_data_info(i)['img'], images[i])
    assert ds.metainfo['classes'][9] == '9 - nine'


def test_batches_in_natural_order_or_as_listed(tmp_path):
    for k, label in ((1, 1), (2, 2), (10, 0)):
        write_affnist_mat(tmp_path / f'{k}.mat', random_images(2, seed=k),
                          [label, label])
    labels = [info['gt_label'] for info in
              AffNIST(str(tmp_path), mat_files='*.mat', lazy_init=True)
              .load_data_list()]
    assert labels == [1, 1, 2, 2, 0, 0]
    ds = AffNIST(str(tmp_path), mat_files=['10.mat', '1.mat'])
    assert [ds.get_data_info(i)['gt_label'] for i in range(4)] == [0, 0, 1, 1]
    np.testing.assert_array_equal(ds.get_data_info(3)['img'],
                                  random_images(2, seed=1)[1])


def test_pipeline_and_indices(tmp_path):
    write_affnist_mat(tmp_path / 'test.mat', random_images(5), [0, 1, 2, 3, 4])
    ds = AffNIST(str(tmp_path), indices=2, pipeline=[dict(type='PackInputs')])
    assert len(ds) == 2
    sample = ds[1]
    assert sample['inputs'].shape == (1, 40, 40)
    assert sample['data_samples'].gt_label.tolist() == [1]
    torch.testing.assert_close(sample['inputs'][0],
                               torch.from_numpy(random_images(5)[1]))


def test_missing_files_name_the_url(tmp_path):
    with pytest.raises(FileNotFoundError,
                       match=r'test.mat. Download it from '
                       r'http://www.cs.toronto.edu/~tijmen/affNIST/'):
        AffNIST(str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r'no file matches .*\*.mat'):
        AffNIST(str(tmp_path), mat_files='*.mat')
    with pytest.raises(ValueError, match='at least one file'):
        AffNIST(str(tmp_path), mat_files=[])


def test_wrong_struct_or_arrays(tmp_path):
    path = tmp_path / 'test.mat'
    savemat(str(path), {'X': np.zeros((3, 3))})
    with pytest.raises(ValueError, match='expected a struct affNISTdata with '
                       'fields image and label_int, found no such struct'):
        AffNIST(str(tmp_path))
    savemat(str(path), {'affNISTdata': {'image': np.zeros((1600, 1))}})
    with pytest.raises(ValueError,
                       match=r"found a struct with fields \('image',\)"):
        AffNIST(str(tmp_path))
    write_affnist_mat(path, random_images(2), [1, 2],
                      image=np.zeros((1599, 2), np.uint8))
    with pytest.raises(ValueError, match=r'image of shape \(1600, N\) uint8, '
                       r'got \(1599, 2\) uint8'):
        AffNIST(str(tmp_path))
    write_affnist_mat(path, random_images(2), [1, 2],
                      image=np.zeros((1600, 2)))
    with pytest.raises(ValueError, match='got .* float64'):
        AffNIST(str(tmp_path))
    write_affnist_mat(path, random_images(2), [1, 2],
                      label_int=np.array([[1, 2, 3]]))
    with pytest.raises(ValueError, match='2 images but 3 labels'):
        AffNIST(str(tmp_path))
    write_affnist_mat(path, random_images(3), [1, 10, 12])
    with pytest.raises(ValueError, match=r'label 10 at index 1 .* \(2 bad'):
        AffNIST(str(tmp_path))


def test_without_scipy(tmp_path, monkeypatch):
    write_affnist_mat(tmp_path / 'test.mat', random_images(1), [1])
    # A None entry makes `import scipy.io` raise ImportError.
    monkeypatch.setitem(sys.modules, 'scipy.io', None)
    with pytest.raises(ImportError, match='pip install scipy'):
        AffNIST(str(tmp_path))


# The configs of the experiment.

CONFIGS = {
    # CapsNet: Conv1 20,992 + PrimaryCaps 5,308,672 + DigitCaps
    # 4608x10x8x16 = 5,898,240 + decoder 82,432 + 525,312 + 1,640,000.
    'capsnet_r3-recon_1xb128_mnist40.py': 13475648,
    # CNN: convs 6,656 + 1,638,656 + 819,328, FC 128x10x10 -> 328
    # 4,198,728, FC 63,168, head 1,930.
    'cnn-baseline_1xb128_mnist40.py': 6728466,
}


def load(name, data_root):
    """Config ``name`` with its datasets in ``data_root``, MNIST's cut
    to 4 digits."""
    cfg = Config.fromfile(str(REPO / 'configs/affnist' / name))
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dataset = cfg[loader].dataset
        while dataset is not None:
            # Not serialised: BaseDataset then runs a costly gc.collect().
            if dataset.type == 'MNISTIdx':
                dataset.update(data_root=str(data_root), check_md5=False,
                               indices=4, serialize_data=False)
            elif dataset.type == 'AffNIST':
                dataset.update(data_root=str(data_root), serialize_data=False)
            dataset = dataset.get('dataset')
    return cfg


@pytest.mark.parametrize('name', sorted(CONFIGS))
def test_config_parameters_and_shapes(name):
    cfg = Config.fromfile(str(REPO / 'configs/affnist' / name))
    model = MODELS.build(cfg.model)
    assert sum(p.numel() for p in model.parameters()) == CONFIGS[name]
    assert tuple(cfg.input_shape) == (1, 40, 40)
    if name.startswith('capsnet'):
        assert model.backbone.num_capsules(40, 40) == 12 * 12 * 32 == \
            model.head.capsules.in_capsules
        assert model.head.decoder.out_shape == (1, 40, 40)
        assert sum(p.numel() for n, p in model.named_parameters()
                   if 'decoder' not in n) == 11227904
    else:
        assert model.backbone.input_size == (40, 40)
    # The real-affNIST twin tests the same model on other data.
    twin = Config.fromfile(
        str(REPO / 'configs/affnist' / name.replace('.py',
                                                    '_test-affnist.py')))
    assert twin.model == cfg.model
    assert twin.test_dataloader.dataset.type == 'AffNIST'


def test_capsnet_config_data_to_model(tiny_mnist_root, tmp_path):
    """The real pipelines feed the model: random placement for training,
    centred digits for validation, AffineMNIST and AffNIST for testing."""
    write_affnist_mat(tmp_path / 'test.mat', random_images(4), [0, 1, 2, 3])
    cfg = load('capsnet_r3-recon_1xb128_mnist40.py', tiny_mnist_root)
    cfg.model.data_preprocessor = cfg.data_preprocessor
    # A narrow Conv1 for speed; the 40x40 geometry (4608 primary capsules,
    # a 1600-pixel reconstruction) is the config's.
    cfg.model.backbone.conv1_channels = 8
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    train = DATASETS.build(cfg.train_dataloader.dataset)
    batch = model.data_preprocessor(
        pseudo_collate([train[0], train[1]]), training=True)
    assert batch['inputs'].shape == (2, 1, 40, 40)
    losses = model(**batch, mode='loss')
    assert set(losses) == {'loss_margin', 'loss_recon'}
    sum(losses.values()).backward()
    val = DATASETS.build(cfg.val_dataloader.dataset)
    centred = val[0]['inputs'][0]
    assert not centred[:6].any() and not centred[34:].any()
    test = DATASETS.build(cfg.test_dataloader.dataset)
    assert len(test) == 4 * 32 and type(test).__name__ == 'AffineMNIST'
    affnist_cfg = load('capsnet_r3-recon_1xb128_mnist40_test-affnist.py',
                       tmp_path)
    affnist = DATASETS.build(affnist_cfg.test_dataloader.dataset)
    assert len(affnist) == 4
    model.eval()
    with torch.no_grad():
        batch = model.data_preprocessor(
            pseudo_collate([val[0], test[0], affnist[0]]))
        preds = model(**batch, mode='predict')
    assert [p.pred_score.shape for p in preds] == [(10, )] * 3
