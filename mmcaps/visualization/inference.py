"""What the drawings show, computed from a model: class capsules, coupling
coefficients, reconstructions and perturbed reconstructions.

The model is a classifier with a capsule head, such as
:class:`~mmcaps.models.CapsNetClassifier` with
:class:`~mmcaps.models.DigitCapsHead` (``head.capsules`` a capsule layer
whose ``forward`` takes ``return_coupling``, ``head.reconstruct`` when it has
a decoder).
"""
from typing import List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from mmpretrain.apis import get_model
from mmpretrain.registry import DATASETS

from mmcaps.models import PrimaryCaps, capsule_length
from mmcaps.utils import load_model_weights

__all__ = [
    'CapsuleOutputs', 'capsule_outputs', 'load_model', 'load_samples',
    'perturbation_values', 'perturbed_reconstructions',
    'require_reconstruction', 'reconstruct_top', 'sample_labels'
]


def load_model(config: Union[str, Config],
               checkpoint: str,
               device: str = 'cpu',
               cfg_options: Optional[dict] = None) -> nn.Module:
    """Build the model of ``config`` (with ``cfg_options`` merged into it),
    load ``checkpoint`` and put it on ``device`` in eval mode.

    The checkpoint is loaded with :func:`mmcaps.utils.load_model_weights`:
    safely, and only if its weights fit the model exactly. The merged
    config is ``model._config``.

    Raises:
        mmcaps.utils.BadCheckpointError: The weights do not fit the model
            (the message names the keys), or the file is damaged.
        mmcaps.utils.UnsafeCheckpointError: The file needs more than
            tensors to load.
    """
    cfg = (config.copy() if isinstance(config, Config) else
           Config.fromfile(config))
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    model = get_model(cfg, device=device)
    meta = load_model_weights(model, checkpoint).get('meta')
    # What get_model would take from a checkpoint it loaded itself.
    if isinstance(meta, dict) and isinstance(meta.get('dataset_meta'), dict):
        model._dataset_meta = meta['dataset_meta']
    return model


def require_reconstruction(model: nn.Module, what: str) -> None:
    """Raise ``ValueError`` (naming ``what`` needs it) unless ``model``
    decodes class capsules into images: a ``raw_images`` method (as
    :class:`~mmcaps.models.CapsNetClassifier`) and a head with a decoder."""
    head = getattr(model, 'head', None)
    if not (hasattr(model, 'raw_images')
            and getattr(head, 'with_reconstruction', False)):
        raise ValueError(
            f'{what} needs a CapsNetClassifier whose head has a '
            'reconstruction decoder (head.decoder in the config), got a '
            f'{type(model).__name__} with head {type(head).__name__}')


def load_samples(cfg: Config, start: int, num: int) -> dict:
    """Samples ``start, ..., start + num - 1`` of the config's test set,
    collated as a data batch (``inputs`` and ``data_samples`` lists), or
    fewer where the set ends."""
    if not isinstance(num, int) or num < 1:
        raise ValueError(f'num must be a positive integer, got {num!r}')
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    if not 0 <= start < len(dataset):
        raise ValueError(f'start={start} is outside the test set of '
                         f'{len(dataset)} samples')
    indices = range(start, min(start + num, len(dataset)))
    return pseudo_collate([dataset[i] for i in indices])


def sample_labels(batch: dict) -> List[List[int]]:
    """The ``gt_label`` classes of each sample of a data batch."""
    return [sample.gt_label.tolist() for sample in batch['data_samples']]


class CapsuleOutputs(NamedTuple):
    """A capsule classifier's view of a batch.

    Attributes:
        images: Raw input images ``(B, C, H, W)`` in ``[0, 1]`` (the
            network inputs for a model without ``raw_images``).
        primary: Input capsules of the class-capsule layer
            ``(B, N_in, D_in)``.
        capsules: Class capsules ``(B, K, D)``.
        coupling: The final routing iteration's coupling coefficients
            ``(B, K, N_in)``, or ``None`` when not asked for.
        grid: ``(T, H', W')``, the layout of the ``N_in = T * H' * W'``
            input capsules (type-major, then row, column) when they come
            from the model's only :class:`PrimaryCaps`, else ``None``.
    """
    images: torch.Tensor
    primary: torch.Tensor
    capsules: torch.Tensor
    coupling: Optional[torch.Tensor]
    grid: Optional[Tuple[int, int, int]]


@torch.no_grad()
def capsule_outputs(model: nn.Module,
                    batch: dict,
                    return_coupling: bool = False) -> CapsuleOutputs:
    """Run ``model`` (eval mode expected) on a data batch as a dataloader
    yields it; the data preprocessor runs in its test mode (no random
    shift). See :class:`CapsuleOutputs`."""
    data = model.data_preprocessor(batch, False)
    inputs = data['inputs']
    primary_layers = [m for m in model.modules() if isinstance(m, PrimaryCaps)]
    grid_shape: List[Tuple[int, int, int]] = []
    handle = None
    if len(primary_layers) == 1:
        layer = primary_layers[0]
        handle = layer.conv.register_forward_hook(
            lambda module, args, out: grid_shape.append(
                (layer.num_types, *out.shape[-2:])))
    try:
        primary = model.head.pre_logits(model.extract_feat(inputs))
    finally:
        if handle is not None:
            handle.remove()
    grid = grid_shape[-1] if grid_shape else None
    if grid is not None and grid[0] * grid[1] * grid[2] != primary.shape[1]:
        grid = None
    coupling = None
    if return_coupling:
        capsules, coupling = model.head.capsules(primary,
                                                 return_coupling=True)
    else:
        capsules = model.head.capsules(primary)
    images = (model.raw_images(inputs)
              if hasattr(model, 'raw_images') else inputs)
    return CapsuleOutputs(images, primary, capsules, coupling, grid)


@torch.no_grad()
def reconstruct_top(model: nn.Module, capsules: torch.Tensor,
                    num: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Decode each of the ``num`` longest class capsules alone.

    ``(B, K, D) -> ((B, num), (B, num, C, H, W))``: the predicted classes,
    longest first, and the image decoded from each one's capsule (the
    others masked).
    """
    if not isinstance(num, int) or not 1 <= num <= capsules.shape[1]:
        raise ValueError(f'num must be an integer in [1, '
                         f'{capsules.shape[1]}], got {num!r}')
    preds = capsule_length(capsules).topk(num, dim=1).indices
    recons = torch.stack(
        [model.head.reconstruct(capsules, preds[:, p]) for p in range(num)],
        dim=1)
    return preds, recons


def perturbation_values(limit: float, step: float) -> np.ndarray:
    """``-limit, -limit + step, ..., 0, ..., limit`` (the paper: 0.25 and
    0.05, 11 values); ``limit`` must be a whole number of steps, so that 0
    (the plain reconstruction) is one of the values."""
    if not limit > 0 or not step > 0:
        raise ValueError('perturbation range and step must be positive, '
                         f'got range={limit}, step={step}')
    steps = limit / step
    if abs(steps - round(steps)) > 1e-6:
        raise ValueError(f'perturbation range={limit} is not a whole number '
                         f'of steps of {step} from 0; choose a step that '
                         'divides it')
    return np.linspace(-limit, limit, 2 * round(steps) + 1)


@torch.no_grad()
def perturbed_reconstructions(model: nn.Module, capsules: torch.Tensor,
                              label: int,
                              values: Sequence[float]) -> torch.Tensor:
    """Decode the capsule of class ``label`` with one dimension shifted.

    ``(K, D)`` class capsules of one sample -> ``(D, S, C, H, W)``: entry
    ``(d, s)`` decodes the capsule with ``values[s]`` added to its dimension
    ``d`` (the paper's Figure 4). A value of 0 gives the plain
    reconstruction.
    """
    num_dims = capsules.shape[1]
    deltas = torch.as_tensor(values, dtype=capsules.dtype,
                             device=capsules.device)
    # (D, S, D): one-hot dimension d scaled by value s.
    shifts = (torch.eye(num_dims, dtype=capsules.dtype,
                        device=capsules.device)[:, None, :] *
              deltas[None, :, None])
    batch = capsules.expand(num_dims * len(deltas), *capsules.shape).clone()
    batch[:, label] += shifts.reshape(-1, num_dims)
    labels = torch.full((batch.shape[0], ), label, device=capsules.device)
    recons = model.head.reconstruct(batch, labels)
    return recons.view(num_dims, len(deltas), *recons.shape[1:])
