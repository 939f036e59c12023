"""Every config in configs/ builds, and its model runs forward + backward."""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmpretrain.registry import DATASETS, MODELS, TRANSFORMS
from mmpretrain.structures import DataSample

import mmcaps  # noqa: F401

CONFIGS = sorted(
    str(p.relative_to(Path(__file__).resolve().parents[1]))
    for p in (Path(__file__).resolve().parents[1] / 'configs').rglob('*.py')
    if '_base_' not in p.parts)
REPO = Path(__file__).resolve().parents[1]


# Every config's parameter count, as the code before issue 12's
# restructuring built them (counted at commit 7004842, independently of
# today's code). The paper: 8.2 M with the decoder, 6.8 M without;
# baseline CNN 35.4 M.
PARAMS = {
    'capsnet_r3-recon_1xb128_mnist.py': 8215568,
    'capsnet_r3-recon_1xb128_mnist-inmemory.py': 8215568,
    'capsnet_r1-recon_1xb128_mnist.py': 8215568,
    'capsnet_r3-recon_1xb32-3e_mnist5k.py': 8215568,
    'capsnet_r3-recon_1xb32-1e_mnist.py': 8215568,
    'capsnet_r3-recon_1xb32-3e_mnist.py': 8215568,
    'capsnet_r3-recon_1xb64-1e_mnist.py': 8215568,
    'capsnet_r3-recon_1xb64-1e-noshift_mnist.py': 8215568,
    'capsnet_r3_1xb128_mnist.py': 6804224,
    'capsnet_r1_1xb128_mnist.py': 6804224,
    'cnn-baseline_1xb128_mnist.py': 35445522,
    'cnn-baseline_1xb32-3e_mnist.py': 35445522,
    # DigitCaps with self-attention routing: + 1152 x 10 log priors.
    'capsnet_selfattn-recon_1xb128_mnist.py': 8227088,
    # DigitCaps with EM routing: + beta_u, beta_a per class capsule.
    'capsnet_em-recon_1xb128_mnist.py': 8215588,
    # Matrix capsules (A=64, B=8, C=D=16) on 28x28 MNIST.
    'matrix-capsnet-em_1xb32_mnist.py': 68444,
    # Efficient-CapsNet: the paper's 161,824 + the decoder's 1,411,344.
    'efficient-capsnet_1xb16_mnist.py': 1573168,
    'efficient-capsnet_1xb16-30e_mnist.py': 1573168,
    # The paper: 11.36 M and 24.56 M.
    'capsnet_r3-recon_1xb128_multimnist.py': 11361808,
    'cnn-baseline_1xb128_multimnist.py': 24563978,
    # configs/affnist: the paper's models on 40x40 (4,608 primary capsules).
    'capsnet_r3-recon_1xb128_mnist40.py': 13475648,
    'capsnet_r3-recon_1xb128_mnist40_test-affnist.py': 13475648,
    'capsnet_r3-recon_1xb32-1e_mnist40.py': 13475648,
    'cnn-baseline_1xb128_mnist40.py': 6728466,
    'cnn-baseline_1xb128_mnist40_test-affnist.py': 6728466,
    'cnn-baseline_1xb32-1e_mnist40.py': 6728466,
    # configs/capsule_heads: each capsule head and its linear twin.
    'timm-resnet18-os8_capsule-head_1xb128_cifar10.py': 15719744,
    'timm-resnet18-os8_linear-head_1xb128_cifar10.py': 11181642,
    'resnet18-cifar_capsule-head_1xb128_cifar10.py': 15712064,
    'resnet18-cifar_linear-head_1xb128_cifar10.py': 11173962,
    'timm-resnet18-layer2_capsule-head_1xb128_mnist.py': 2776528,
    'timm-resnet18-layer2_capsule-head_1xb32-3e_mnist.py': 2776528,
    'timm-resnet18-layer2_linear-head_1xb128_mnist.py': 678090,
    'timm-resnet18-layer2_capsule-head_1xb128_fashion-mnist.py': 2776528,
    'timm-resnet18-layer2_linear-head_1xb128_fashion-mnist.py': 678090,
    'timm-resnet18-os8_capsule-head_1xb128_svhn.py': 15719744,
    'timm-resnet18-os8_linear-head_1xb128_svhn.py': 11181642,
    # ImageNet-1k: 1,000 class capsules, W shared by the 7x7 grid's
    # positions (4,096,000); self-attention adds 1,000 x 1,568 log priors.
    'timm-resnet50_capsule-head_8xb32_in1k.py': 28128576,
    'timm-resnet50_capsule-head-selfattn_8xb32_in1k.py': 29696576,
    'timm-resnet50_linear-head_8xb32_in1k.py': 25557032,
    'timm-resnet50-pre_capsule-head_8xb32-coslr-30e_in1k.py': 28128576,
    'timm-resnet50-pre_capsule-head-selfattn_8xb32-coslr-30e_in1k.py':
    29696576,
    'timm-resnet50-pre_linear-head_8xb32-coslr-30e_in1k.py': 25557032,
    'timm-deit-small_capsule-head_8xb64_in1k.py': 26154368,
    'timm-deit-small_capsule-head-selfattn_8xb64_in1k.py': 27722368,
    'timm-deit-small_linear-head_8xb64_in1k.py': 22049896,
    'timm-deit-small-pre_capsule-head_8xb64-30e_in1k.py': 26154368,
    'timm-deit-small-pre_capsule-head-selfattn_8xb64-30e_in1k.py': 27722368,
    'timm-deit-small-pre_linear-head_8xb64-30e_in1k.py': 22049896,
}


def test_every_config_has_its_parameter_count():
    names = [Path(c).name for c in CONFIGS]
    # PARAMS is keyed by file name.
    assert len(set(names)) == len(names)
    assert set(names) == set(PARAMS)


@pytest.mark.parametrize('config', CONFIGS)
def test_config_builds_and_trains_one_step(config):
    cfg = Config.fromfile(str(REPO / config))
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dataset = cfg[loader]['dataset']
        while dataset is not None:  # wrappers nest the dataset they wrap
            assert DATASETS.get(dataset['type']) is not None, dataset['type']
            for t in dataset.get('pipeline', []):
                assert TRANSFORMS.get(t['type']) is not None, t['type']
            dataset = dataset.get('dataset')
    name = Path(config).name
    model_cfg = cfg.model.copy()
    # A '-pre' trunk loads timm's weights, which the tests cannot download:
    # the same architecture is built from random weights.
    pretrained = model_cfg.backbone.get('pretrained', False)
    assert pretrained == ('-pre_' in name)
    if pretrained:
        model_cfg.backbone.pretrained = False
    model_cfg.setdefault('data_preprocessor', cfg.get('data_preprocessor'))
    model = MODELS.build(model_cfg)
    model.init_weights()
    assert sum(p.numel() for p in model.parameters()) == PARAMS[name]
    if name.startswith('capsnet_r'):
        # The name says the routing iterations and whether it reconstructs.
        routing = model.head.capsules.routing
        assert routing.num_iterations == int(name[len('capsnet_r')])
        assert model.head.with_reconstruction == ('-recon' in name)
    torch.manual_seed(0)
    # A config may set its input shape; MultiMNIST samples carry two labels
    # and the two single digits (the reconstruction targets).
    shape = tuple(cfg.get('input_shape', (1, 28, 28)))
    if getattr(model.head, 'decoder', None) is not None:
        # The reconstruction target is the input image.
        assert model.head.decoder.out_shape == shape
    data = dict(
        inputs=list(torch.randint(0, 256, (2, *shape), dtype=torch.uint8)),
        data_samples=[DataSample().set_gt_label(i) for i in (3, 7)])
    if cfg.train_dataloader.dataset.type == 'MultiMNIST':
        data['data_samples'] = [
            DataSample(digit_images=torch.rand(2, *shape)).set_gt_label(pair)
            for pair in ([3, 5], [7, 0])
        ]
    batch = model.data_preprocessor(data, training=True)
    losses = model(**batch, mode='loss')
    loss = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(loss)
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    model.eval()
    with torch.no_grad():
        preds = model(**model.data_preprocessor(data), mode='predict')
    assert [p.pred_score.shape
            for p in preds] == [(model.head.num_classes, )] * 2


@pytest.mark.parametrize('config', [
    'multimnist/capsnet_r3-recon_1xb128_multimnist.py',
    'affnist/capsnet_r3-recon_1xb128_mnist40.py',
    'affnist/capsnet_r3-recon_1xb32-1e_mnist40.py',
])
def test_many_primary_capsules_initialise_w_small(config):
    """3200 primary capsules saturate the class capsules with W of std 0.1
    (measured on MultiMNIST; 4608 on 40x40 MNIST make every class capsule
    0.98 long at initialisation): these configs initialise W with std
    0.01."""
    cfg = Config.fromfile(str(REPO / 'configs' / config))
    model = MODELS.build(cfg.model)
    torch.manual_seed(0)
    model.init_weights()
    assert model.head.capsules.init_std == 0.01
    w = model.head.capsules.weight
    assert w.abs().max() <= 0.02
    assert 0.008 < w.std() < 0.0095


def test_efficient_capsnet_w_is_keras_he_normal():
    """Keras' he_normal on the official W (fan_in 1280): a normal of std
    sqrt(2 / 1280) / 0.8796 = 0.04494 truncated at 2 std, whose standard
    deviation is sqrt(2 / 1280) = 0.0395."""
    cfg = Config.fromfile(str(
        REPO / 'configs/efficient_capsnet/efficient-capsnet_1xb16_mnist.py'))
    assert cfg.model.head.init_std == 0.04494
    model = MODELS.build(cfg.model)
    torch.manual_seed(0)
    model.init_weights()
    w = model.head.capsules.weight
    assert model.head.capsules.init_std == 0.04494
    assert w.abs().max() <= 0.08988
    assert w.abs().max() > 0.99 * 0.08988
    assert abs(w.std().item() / (2 / 1280)**0.5 - 1) < 0.03
