"""The CUDA paths, against CPU and float64 references.

Run with ``python -m pytest -m cuda tests/test_cuda`` on a machine with a
GPU (``tools/gpu_check.py`` does, as its second stage); without one every
test here is skipped.

What is checked, on the paper's layer sizes where it matters:

- dynamic routing's hand-written backward on CUDA against the CPU result,
  against autograd of the straightforward formulation and by gradcheck;
- the capsule layer against the straightforward formulation on CUDA, and
  its memory-lean path (``votes='lean'``) against routing on formed votes,
  in float32, under autocast, and in memory (1,000 classes);
- squash, capsule lengths, the margin and reconstruction losses and the
  whole CapsNet under fp16 and bf16 autocast: finite, and within stated
  tolerances of a float64 CPU reference;
- ``InMemoryDataset(device='cuda')`` with the batch-wise random shift:
  the batches of the CPU path, shifted within the allowed range;
- ``torch.compile`` of the training step (mmengine's ``compile=True``)
  against the eager step.

float32 means float32 here: TF32 matmuls and convolutions are turned off
for every test (they would move float32 results by ~1e-3).
"""
import copy
from pathlib import Path
from typing import Dict

import pytest
import torch
import torch.nn.functional as F
from conftest import REPO
from mmengine.config import Config
from mmengine.optim import OptimWrapper
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from mmcaps.datasets import InMemoryDataset, MNISTIdx
from mmcaps.models import (CapsuleLayer, DynamicRouting, MarginLoss,
                           RandomShiftDataPreprocessor, ReconstructionLoss,
                           capsule_length, squash)
from mmcaps.testing import NaiveCapsuleLayer

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(),
                       reason='needs a CUDA GPU'),
]

CUDA = torch.device('cuda')
CPU = torch.device('cpu')
PAPER_CONFIG = REPO / 'configs/capsnet/capsnet_r3-recon_1xb128_mnist.py'

# Relative error (of the whole tensor, see rel_err) allowed for results
# computed under autocast, against a float64 reference: ~10x the largest
# error that these tests measured with CPU autocast (fp16 1.0e-3, bf16
# 6.4e-3, both the whole CapsNet's gradient; the dtypes' unit roundoff is
# 4.9e-4 and 3.9e-3), leaving room for cuBLAS's reduced-precision
# reductions. What they catch is a dtype mishandled: an overflow to inf or
# NaN (fp16 squares overflow from 256), a result in the wrong dtype, an
# error far beyond rounding.
AUTOCAST_TOL = {torch.float16: 1e-2, torch.bfloat16: 5e-2}
# float32 on CUDA against float64 (reduction order, no TF32): measured
# 5.6e-7 for the capsule layer on the CPU; a whole network's gradient is
# allowed 1e-4, as cuDNN may convolve by FFT (~1e-5). TF32 would give
# ~1e-3.
FP32_TOL = 1e-5
FP32_NETWORK_TOL = 1e-4


@pytest.fixture(autouse=True)
def no_tf32():
    """Turn TF32 off for matmuls and cuDNN convolutions, restore after."""
    matmul = torch.backends.cuda.matmul.allow_tf32
    cudnn = torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32 = matmul
    torch.backends.cudnn.allow_tf32 = cudnn


def rel_err(actual: torch.Tensor, expected: torch.Tensor) -> float:
    """``|actual - expected| / |expected|`` over the whole tensor, in
    float64 on the CPU."""
    actual = actual.detach().to(CPU, torch.float64)
    expected = expected.detach().to(CPU, torch.float64)
    return ((actual - expected).norm() / expected.norm()).item()


def straightforward_routing(u_hat: torch.Tensor, num_iterations: int,
                            detach: bool) -> torch.Tensor:
    """Procedure 1 of Sabour et al. as public ports write it, squash
    included, left to autograd: ``(B, N_out, N_in, D) -> (B, N_out, D)``.
    With ``detach`` the votes of all but the last iteration are detached.
    """
    logits = u_hat.new_zeros(u_hat.shape[:3])
    for it in range(num_iterations):
        last = it == num_iterations - 1
        votes = u_hat if last or not detach else u_hat.detach()
        coupling = logits.softmax(dim=1)
        s = (coupling.unsqueeze(-1) * votes).sum(dim=2)
        norm2 = (s * s).sum(dim=-1, keepdim=True)
        v = norm2 / (1 + norm2) * s / norm2.sqrt()
        if not last:
            logits = logits + (votes * v.unsqueeze(2)).sum(dim=-1)
    return v


def route(u_hat: torch.Tensor, num_iterations: int,
          detach: bool) -> torch.Tensor:
    """mmcaps' dynamic routing of the votes ``u_hat``."""
    _, n_out, n_in, d_out = u_hat.shape
    routing = DynamicRouting(n_in, n_out, d_out, num_iterations, detach)
    return routing(u_hat, u_hat.new_ones(u_hat.shape[0], n_in))


def votes(shape=(8, 10, 1152, 16), dtype=torch.float64,
          seed: int = 0) -> torch.Tensor:
    """Votes of the paper's DigitCaps scale (|u_hat| ~ 0.1 per component,
    as W ~ N(0, 0.1) times primary capsules shorter than 1)."""
    gen = torch.Generator().manual_seed(seed)
    return (0.1 * torch.randn(shape, generator=gen, dtype=torch.float64)).to(
        dtype)


def value_and_grad(fn, x: torch.Tensor, weight: torch.Tensor):
    """``fn(x)`` and the gradient of ``sum(fn(x) * weight)`` wrt ``x``."""
    x = x.detach().requires_grad_()
    out = fn(x)
    grad, = torch.autograd.grad((out * weight).sum(), x)
    return out.detach(), grad


@pytest.mark.parametrize('detach', [False, True])
@pytest.mark.parametrize('num_iterations', [1, 3])
@pytest.mark.parametrize('dtype,tol', [(torch.float64, 1e-12),
                                       (torch.float32, FP32_TOL)])
def test_routing_on_cuda_matches_cpu(dtype, tol, num_iterations, detach):
    u_hat = votes(dtype=dtype)
    weight = torch.randn(8, 10, 16, dtype=dtype,
                         generator=torch.Generator().manual_seed(1))

    def fn(x):
        return route(x, num_iterations, detach)

    v_cpu, g_cpu = value_and_grad(fn, u_hat, weight)
    v_cuda, g_cuda = value_and_grad(fn, u_hat.to(CUDA), weight.to(CUDA))
    assert v_cuda.device.type == g_cuda.device.type == CUDA.type
    assert v_cuda.dtype == g_cuda.dtype == dtype
    assert rel_err(v_cuda, v_cpu) < tol
    assert rel_err(g_cuda, g_cpu) < tol


@pytest.mark.parametrize('detach', [False, True])
@pytest.mark.parametrize('num_iterations', [1, 2, 3, 5])
def test_routing_backward_on_cuda_matches_autograd(num_iterations, detach):
    u_hat = votes((4, 10, 300, 16), seed=num_iterations).to(CUDA)
    weight = torch.randn(4, 10, 16, dtype=torch.float64, device=CUDA)
    v, grad = value_and_grad(lambda x: route(x, num_iterations, detach),
                             u_hat, weight)
    v_ref, grad_ref = value_and_grad(
        lambda x: straightforward_routing(x, num_iterations, detach), u_hat,
        weight)
    torch.testing.assert_close(v, v_ref, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(grad, grad_ref, rtol=1e-9, atol=1e-12)


def test_routing_gradcheck_on_cuda():
    u_hat = (torch.randn(2, 3, 5, 4, dtype=torch.float64, device=CUDA) *
             0.8).requires_grad_()
    assert torch.autograd.gradcheck(lambda x: route(x, 3, False), (u_hat, ))


def test_capsule_layer_on_cuda_matches_straightforward_layer():
    """The paper's DigitCaps (1152 8-D -> 10 16-D, 3 iterations) in float32
    on CUDA against the straightforward layer, gradients wrt the input and
    W included."""
    torch.manual_seed(0)
    layer = CapsuleLayer(1152, 8, 10, 16).to(CUDA)
    naive = NaiveCapsuleLayer(layer).to(CUDA)
    u = squash(torch.randn(16, 1152, 8, device=CUDA))
    weight = torch.randn(16, 10, 16, device=CUDA)

    u_fast = u.clone().requires_grad_()
    v = layer(u_fast)
    (v * weight).sum().backward()
    u_naive = u.clone().requires_grad_()
    v_naive = naive(u_naive)
    (v_naive * weight).sum().backward()

    assert rel_err(v, v_naive) < FP32_TOL
    assert rel_err(u_fast.grad, u_naive.grad) < FP32_TOL
    # (N_in, D_in, N_out * D_out) -> the naive (N_in, N_out, D_out, D_in).
    grad_w = layer.weight.grad.view(1152, 8, 10, 16).permute(0, 2, 3, 1)
    assert rel_err(grad_w, naive.weight.grad[0]) < FP32_TOL


AUTOCAST_DTYPES = pytest.mark.parametrize(
    'dtype', [torch.float16, torch.bfloat16], ids=['fp16', 'bf16'])


@AUTOCAST_DTYPES
def test_squash_and_lengths_of_half_inputs_on_cuda(dtype):
    """squash and capsule_length of fp16/bf16 capsules, from zero vectors to
    the dtype's largest values: finite and equal to the float64 result of
    the same (rounded) input up to the output's rounding."""
    finfo = torch.finfo(dtype)
    gen = torch.Generator().manual_seed(0)
    scales = torch.tensor([0., 1e-3, 0.1, 1., 10., 100., finfo.max / 16])
    x = (torch.randn(len(scales), 64, 16, generator=gen).clamp(-4, 4) *
         scales[:, None, None]).to(dtype)
    with torch.autocast(CUDA.type, dtype=dtype):
        v = squash(x.to(CUDA))
        lengths = capsule_length(x.to(CUDA))
    v_ref = squash(x.double())
    length_ref = x.double().norm(dim=-1)

    assert v.dtype == dtype and lengths.dtype == torch.float32
    assert v.isfinite().all() and lengths.isfinite().all()
    assert (v[0] == 0).all() and (lengths[0] == 0).all()
    # Computed in float32, rounded once to the dtype.
    torch.testing.assert_close(v.cpu().double(), v_ref, rtol=finfo.eps,
                               atol=finfo.tiny)
    torch.testing.assert_close(lengths.cpu().double(), length_ref,
                               rtol=1e-6, atol=0)
    # The largest vectors keep their direction at length ~1.
    torch.testing.assert_close(v[-1].float().norm(dim=-1).cpu(),
                               torch.ones(64), rtol=0, atol=2 * finfo.eps)


@AUTOCAST_DTYPES
def test_losses_of_half_inputs_on_cuda(dtype):
    """The margin loss of lengths and the reconstruction loss of images in
    fp16/bf16: accumulated in float32, so equal to the float64 loss of the
    same inputs to float32 rounding."""
    gen = torch.Generator().manual_seed(0)
    lengths = torch.rand(64, 10, generator=gen).to(dtype)
    labels = torch.randint(0, 10, (64, ), generator=gen)
    recon = torch.rand(64, 1, 28, 28, generator=gen).to(dtype)
    target = torch.rand(64, 1, 28, 28, generator=gen)

    with torch.autocast(CUDA.type, dtype=dtype):
        margin = MarginLoss()(lengths.to(CUDA), labels.to(CUDA))
        reconstruction = ReconstructionLoss()(recon.to(CUDA),
                                              target.to(CUDA))
    assert margin.dtype == reconstruction.dtype == torch.float32

    t = F.one_hot(labels, 10).double()
    lengths64 = lengths.double()
    margin_ref = (t * (0.9 - lengths64).clamp(min=0).pow(2) + 0.5 *
                  (1 - t) * (lengths64 - 0.1).clamp(min=0).pow(2)).sum(1)
    recon_ref = 0.0005 * (recon.double() - target.double()).pow(2).flatten(
        1).sum(1)
    torch.testing.assert_close(margin.double().cpu(), margin_ref.mean(),
                               rtol=1e-6, atol=0)
    # A sum of 784 squares a sample.
    torch.testing.assert_close(reconstruction.double().cpu(),
                               recon_ref.mean(), rtol=1e-5, atol=0)


@AUTOCAST_DTYPES
def test_capsule_layer_under_autocast_on_cuda(dtype):
    """DigitCaps under autocast: votes and routing in the low precision,
    logits in float32; output and gradients finite and within
    AUTOCAST_TOL of float64."""
    torch.manual_seed(0)
    layer = CapsuleLayer(1152, 8, 10, 16)
    layer64 = copy.deepcopy(layer).double()
    layer = layer.to(CUDA)
    u = squash(torch.randn(16, 1152, 8, dtype=torch.float64))
    weight = torch.randn(16, 10, 16, dtype=torch.float64)

    u_cuda = u.float().to(CUDA).requires_grad_()
    with torch.autocast(CUDA.type, dtype=dtype):
        v = layer(u_cuda)
    (v.float() * weight.float().to(CUDA)).sum().backward()
    u64 = u.clone().requires_grad_()
    v64 = layer64(u64)
    (v64 * weight).sum().backward()

    assert v.dtype == dtype
    for got in (v, u_cuda.grad, layer.weight.grad):
        assert got.isfinite().all()
    tol = AUTOCAST_TOL[dtype]
    assert rel_err(v, v64) < tol
    assert rel_err(u_cuda.grad, u64.grad) < tol
    assert rel_err(layer.weight.grad, layer64.weight.grad) < tol


def lean_and_full(sharing: bool, chunk_size=None, out_capsules: int = 10,
                  grid=(6, 6)):
    """The same capsule layer (32 8-D capsule types on ``grid`` ->
    ``out_capsules`` 16-D, 3 iterations) with votes='lean' and
    votes='full', equal weights; with ``sharing`` one matrix per type and
    class plus coordinate addition, else one per capsule."""
    n_in = 32 * grid[0] * grid[1]
    kwargs = dict(weight_sharing=dict(num_types=32, grid=grid,
                                      coord_add=True)) if sharing else {}
    lean = CapsuleLayer(n_in, 8, out_capsules, 16, votes='lean',
                        chunk_size=chunk_size, **kwargs)
    full = CapsuleLayer(n_in, 8, out_capsules, 16, votes='full', **kwargs)
    full.load_state_dict(lean.state_dict())
    return lean, full


@pytest.mark.parametrize('sharing,chunk_size', [(False, None), (True, None),
                                                (True, 3)])
def test_lean_votes_on_cuda_match_formed_votes(sharing, chunk_size):
    """The memory-lean routing path on CUDA (float32, chunks of 3 images or
    automatic) against dynamic routing on formed votes: outputs and the
    gradients of the input and W."""
    torch.manual_seed(0)
    lean, full = (m.to(CUDA) for m in lean_and_full(sharing, chunk_size))
    u = squash(torch.randn(8, lean.in_capsules, 8, device=CUDA))
    weight = torch.randn(8, 10, 16, device=CUDA)
    results = []
    for layer in (lean, full):
        x = u.clone().requires_grad_()
        v = layer(x)
        (v * weight).sum().backward()
        results.append((v, x.grad, layer.weight.grad))
    for got, expected in zip(*results):
        assert rel_err(got, expected) < FP32_TOL


@AUTOCAST_DTYPES
def test_lean_votes_run_in_float32_under_autocast_on_cuda(dtype):
    """Under autocast the lean path still routes in float32: the output is
    float32 and that of the path without autocast."""
    torch.manual_seed(0)
    lean = lean_and_full(True)[0].to(CUDA)
    u = squash(torch.randn(8, lean.in_capsules, 8, device=CUDA))
    expected = lean(u)
    with torch.autocast(CUDA.type, dtype=dtype):
        v = lean(u)
    assert v.dtype == torch.float32
    torch.testing.assert_close(v, expected, rtol=1e-6, atol=1e-7)


def test_lean_votes_on_cuda_never_form_the_votes():
    """1,000 classes on 32 types x 7x7 (an ImageNet trunk's capsule head),
    batch 8, forward and backward on CUDA: the votes alone would take
    8 * 1000 * 1568 * 16 * 4 bytes = 803 MB, which the full path holds
    (with routing buffers of the same size); the lean path stays under
    half of that."""
    torch.manual_seed(0)
    layers = lean_and_full(True, out_capsules=1000, grid=(7, 7))
    lean, full = (m.to(CUDA) for m in layers)
    u = squash(torch.randn(8, lean.in_capsules, 8, device=CUDA))
    votes_bytes = 8 * 1000 * 1568 * 16 * 4

    def peak(layer) -> int:
        x = u.clone().requires_grad_()
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        layer(x).square().sum().backward()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - base

    assert peak(full) > votes_bytes
    assert peak(lean) < votes_bytes / 2


def build_paper_capsnet() -> torch.nn.Module:
    """The paper's CapsNet (with its data preprocessor) in float32 on the
    CPU, in training mode."""
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(str(PAPER_CONFIG))
    return MODELS.build(
        dict(cfg.model, data_preprocessor=cfg.data_preprocessor)).train()


def paper_batch(batch_size: int, device: torch.device, seed: int = 0):
    """Preprocessed-style inputs ``(B, 1, 28, 28)`` in [0, 1] and labelled
    samples."""
    gen = torch.Generator().manual_seed(seed)
    inputs = torch.rand(batch_size, 1, 28, 28, generator=gen)
    labels = torch.randint(0, 10, (batch_size, ), generator=gen)
    samples = [DataSample().set_gt_label(int(y)) for y in labels]
    return inputs.to(device), samples


def loss_and_grads(model, inputs, samples, dtype=None):
    """Each loss term, and every parameter's gradient of their sum, with
    the forward pass under autocast to ``dtype`` (None: no autocast)."""
    model.zero_grad(set_to_none=True)
    with torch.autocast(inputs.device.type, dtype=dtype,
                        enabled=dtype is not None):
        losses = model.loss(inputs, samples)
    sum(losses.values()).backward()
    grads = {
        name: p.grad.detach().clone()
        for name, p in model.named_parameters()
    }
    return {k: v.detach() for k, v in losses.items()}, grads


@pytest.mark.parametrize(
    'dtype', [None, torch.float16, torch.bfloat16],
    ids=['fp32', 'fp16', 'bf16'])
def test_paper_capsnet_losses_and_gradients_on_cuda(dtype):
    """The whole paper CapsNet (convolutions, capsule layer, margin loss,
    decoder, reconstruction loss) on CUDA in float32 and under autocast,
    against float64 on the CPU: every loss term and gradient finite, the
    terms and the gradient (all parameters as one vector) within the
    tolerance."""
    model = build_paper_capsnet()
    model64 = copy.deepcopy(model).double()
    model = model.to(CUDA)
    inputs, samples = paper_batch(8, CPU)
    losses64, grads64 = loss_and_grads(model64, inputs.double(), samples)
    losses, grads = loss_and_grads(model, inputs.to(CUDA), samples, dtype)

    tol = FP32_NETWORK_TOL if dtype is None else AUTOCAST_TOL[dtype]
    assert losses.keys() == losses64.keys() == {'loss_margin', 'loss_recon'}
    for name, value in losses.items():
        assert value.isfinite(), name
        assert rel_err(value, losses64[name]) < tol, name
    for name, grad in grads.items():
        assert grad.isfinite().all(), name
    names = sorted(grads)
    assert rel_err(torch.cat([grads[n].flatten().cpu() for n in names]),
                   torch.cat([grads64[n].flatten() for n in names])) < tol


def in_memory_loader(data_root: Path, device: str):
    """The -inmemory configs' training dataloader (batched collate) over the
    tiny MNIST test split, unshuffled, 8 images a batch."""
    init_default_scope('mmpretrain')
    return Runner.build_dataloader(
        dict(batch_size=8, num_workers=0,
             collate_fn=dict(type='batched_collate'),
             sampler=dict(type='DefaultSampler', shuffle=False),
             dataset=dict(type='InMemoryDataset', device=device,
                          dataset=dict(type='MNISTIdx',
                                       data_root=str(data_root),
                                       split='test', check_md5=False))))


def shifted_by(image: torch.Tensor, raw: torch.Tensor,
               max_shift: int) -> set:
    """The shifts ``(dy, dx)`` that turn ``raw`` ``(C, H, W)`` zero padded
    into ``image`` (to float rounding: CUDA may divide by 255 as a
    multiplication by its reciprocal)."""
    h, w = raw.shape[-2:]
    padded = F.pad(raw, (max_shift, ) * 4)
    return {(dy, dx)
            for dy in range(-max_shift, max_shift + 1)
            for dx in range(-max_shift, max_shift + 1)
            if torch.allclose(padded[:, max_shift - dy:max_shift - dy + h,
                                     max_shift - dx:max_shift - dx + w],
                              image, rtol=1e-6, atol=0)}


def test_in_memory_dataset_on_cuda_with_batchwise_shift(tiny_mnist_root):
    """InMemoryDataset(device='cuda') serves the CPU path's batches from
    GPU memory; RandomShiftDataPreprocessor on CUDA shifts each image by
    its own offset within 2 px (zero padded), the same offsets as on the
    CPU for the same seed."""
    inner = MNISTIdx(str(tiny_mnist_root), split='test', check_md5=False)
    dataset = InMemoryDataset(inner, device=CUDA.type)
    assert dataset.images.device == dataset.labels.device
    assert dataset.images.device.type == CUDA.type
    assert torch.equal(dataset.images.cpu(),
                       InMemoryDataset(inner, device='cpu').images)

    def preprocessor(device):
        return RandomShiftDataPreprocessor(
            random_shift=2, num_classes=10, mean=[0.], std=[255.]).to(device)

    pre_cuda, pre_cpu = preprocessor(CUDA), preprocessor(CPU)
    shifts = []
    batches = zip(in_memory_loader(tiny_mnist_root, CUDA.type),
                  in_memory_loader(tiny_mnist_root, 'cpu'))
    for step, (batch_cuda, batch_cpu) in enumerate(batches):
        assert batch_cuda['inputs'].device.type == CUDA.type
        assert torch.equal(batch_cuda['inputs'].cpu(), batch_cpu['inputs'])
        assert [s.gt_label.item() for s in batch_cuda['data_samples']] == [
            s.gt_label.item() for s in batch_cpu['data_samples']]
        torch.manual_seed(step)
        out_cuda = pre_cuda(batch_cuda, training=True)
        torch.manual_seed(step)
        out_cpu = pre_cpu(batch_cpu, training=True)
        assert out_cuda['inputs'].device.type == CUDA.type
        assert out_cuda['data_samples'][0].gt_label.device.type == CUDA.type
        torch.testing.assert_close(out_cuda['inputs'].cpu(),
                                   out_cpu['inputs'])
        raw = batch_cpu['inputs'].float() / 255
        for image, raw_image in zip(out_cuda['inputs'].cpu(), raw):
            found = shifted_by(image, raw_image, 2)
            assert len(found) == 1, found
            shifts += found
    assert len(shifts) == 20
    # Independent offsets: not one shift for the whole batch.
    assert len(set(shifts)) > 5


def paper_data_batch(batch_size: int, seed: int) -> Dict:
    """A batch as the dataloader gives it: uint8 images and samples."""
    gen = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (batch_size, 1, 28, 28), generator=gen,
                           dtype=torch.uint8)
    labels = torch.randint(0, 10, (batch_size, ), generator=gen)
    return dict(inputs=list(images),
                data_samples=[DataSample().set_gt_label(int(y))
                              for y in labels])


def test_compiled_train_step_on_cuda_matches_eager():
    """torch.compile of the model's train_step (what mmengine's
    ``compile=True`` does) on CUDA: three SGD steps give the eager steps'
    losses and weight updates."""
    eager = build_paper_capsnet().to(CUDA)
    compiled = copy.deepcopy(eager)
    initial = [p.detach().clone() for p in eager.parameters()]
    compiled.train_step = torch.compile(compiled.train_step)
    optims = [
        OptimWrapper(torch.optim.SGD(m.parameters(), lr=0.1))
        for m in (eager, compiled)
    ]
    for step in range(3):
        logs = [
            model.train_step(paper_data_batch(4, step), optim)
            for model, optim in zip((eager, compiled), optims)
        ]
        assert logs[0].keys() == logs[1].keys()
        for name in logs[0]:
            assert logs[1][name].isfinite(), (step, name)
            assert rel_err(logs[1][name], logs[0][name]) < 1e-4, (step, name)

    def update(model):
        return torch.cat([(p.detach() - p0).flatten()
                          for p, p0 in zip(model.parameters(), initial)])

    assert update(eager).norm() > 0
    assert rel_err(update(compiled), update(eager)) < 1e-3
