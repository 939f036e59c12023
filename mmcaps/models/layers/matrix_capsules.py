"""Matrix capsule layers of Hinton, Sabour & Frosst (2018), "Matrix capsules
with EM routing".

A matrix capsule has a ``P x P`` pose matrix (the paper: 4x4) and an
activation in ``(0, 1)``. A map of capsules is a pair
``(poses (N, T, P * P, H, W), activations (N, T, H, W))``: ``T`` capsule
types on an ``H x W`` grid, each pose flattened row-major. A capsule ``i``
votes for a capsule ``j`` of the next layer with ``V_ij = M_i W_ij``, its
pose times a learned ``P x P`` transformation matrix, and EM routing
(:class:`~mmcaps.models.routings.MatrixEMRouting`) turns the votes into the
next layer's poses (the means) and activations.
"""
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS

from mmcaps.utils.validation import check_int

from ..routings import MatrixEMRouting
from ..utils import coordinate_offsets

__all__ = ['ClassMatrixCaps', 'ConvMatrixCaps', 'PrimaryMatrixCaps']

CapsuleMap = Tuple[torch.Tensor, torch.Tensor]


def _build_em_routing(owner: str, cfg: Optional[dict],
                      out_types: int) -> MatrixEMRouting:
    """A :class:`MatrixEMRouting` with betas per output capsule type, from
    its options (``type`` may be left out)."""
    cfg = dict(cfg or {})
    routing_type = cfg.pop('type', 'MatrixEMRouting')
    if routing_type not in ('MatrixEMRouting', MatrixEMRouting):
        raise ValueError(f'{owner} routes matrix capsules with EM: routing '
                         'must be a MatrixEMRouting config, got type '
                         f'{routing_type!r}')
    if 'out_types' in cfg:
        raise ValueError(f'{owner}: out_types is set by the layer; remove it '
                         'from the routing config')
    return MatrixEMRouting(out_types, **cfg)


def _check_capsule_map(owner: str, x: CapsuleMap, types: int,
                       pose_dim: int) -> None:
    if not (isinstance(x, (tuple, list)) and len(x) == 2):
        raise ValueError(f'{owner} expects a pair (poses, activations), got '
                         f'{type(x).__name__}')
    poses, activations = x
    if (poses.dim() != 5 or poses.shape[1:3] != (types, pose_dim)
            or activations.shape != (poses.shape[:2] + poses.shape[3:])):
        raise ValueError(
            f'{owner} expects poses (N, {types}, {pose_dim}, H, W) and '
            f'activations (N, {types}, H, W), got {tuple(poses.shape)} and '
            f'{tuple(activations.shape)}')


def _init_transforms(weight: torch.Tensor, std: float) -> None:
    nn.init.trunc_normal_(weight, std=std, a=-2 * std, b=2 * std)


@MODELS.register_module()
class PrimaryMatrixCaps(nn.Module):
    """Primary matrix capsules: a convolution to ``T`` poses of ``P x P`` and
    a convolution to ``T`` logistic activations.

    ``(N, C, H, W) -> (poses (N, T, P * P, H', W'), activations
    (N, T, H', W'))``; pose channel ``t * P * P + e`` is entry ``e`` of type
    ``t``'s pose.

    Parameters: ``(C * k^2 + 1) * T * (P^2 + 1)`` (the paper's 1x1 kernel,
    ``C = A = 32``, ``T = B = 32``: 17,952; its small model, ``A = 64``,
    ``B = 8``: 8,840).

    Args:
        in_channels: ``C`` (the paper's ``A``).
        num_types: ``T`` (the paper's ``B``).
        pose_size: ``P``.
        kernel_size: Convolution kernel (the paper: 1).
    """

    def __init__(self,
                 in_channels: int,
                 num_types: int = 32,
                 pose_size: int = 4,
                 kernel_size: int = 1) -> None:
        super().__init__()
        for name, value in (('in_channels', in_channels),
                            ('num_types', num_types),
                            ('pose_size', pose_size),
                            ('kernel_size', kernel_size)):
            check_int('PrimaryMatrixCaps', name, value)
        self.num_types = num_types
        self.pose_dim = pose_size * pose_size
        self.pose = nn.Conv2d(in_channels, num_types * self.pose_dim,
                              kernel_size)
        self.activation = nn.Conv2d(in_channels, num_types, kernel_size)

    def forward(self, x: torch.Tensor) -> CapsuleMap:
        if x.dim() != 4 or x.shape[1] != self.pose.in_channels:
            raise ValueError(
                f'PrimaryMatrixCaps expects a feature map (N, '
                f'{self.pose.in_channels}, H, W), got {tuple(x.shape)}')
        poses = self.pose(x)
        n, _, h, w = poses.shape
        poses = poses.view(n, self.num_types, self.pose_dim, h, w)
        return poses, torch.sigmoid(self.activation(x))


@MODELS.register_module()
class ConvMatrixCaps(nn.Module):
    """Convolutional matrix capsules: EM routing over each ``K x K``
    receptive field.

    ``(poses (N, T_in, P * P, H, W), activations (N, T_in, H, W)) ->
    (poses (N, T_out, P * P, H', W'), activations (N, T_out, H', W'))``
    with ``H' = (H - K) // stride + 1`` (no padding, as in the paper).

    The input capsules of an output position are the ``K * K * T_in``
    capsules of its receptive field, ordered type-major then kernel
    position row-major (``F.unfold``'s order); each votes for the ``T_out``
    capsules there with one transformation matrix per (kernel position,
    input type, output type), shared over positions. Each position is
    routed on its own: ``R_ij`` is normalised over the ``T_out`` capsules
    of that position. In the paper an input capsule in several (overlapping)
    receptive fields is normalised over all the parents it votes for; like
    most public ports, this layer does not couple the positions.

    Parameters: ``K^2 * T_in * T_out * P^2 + 2 * T_out`` (the paper's
    ConvCaps1 with ``B = C = 32``: 147,520; its small model's ConvCaps1,
    ``B = 8, C = 16``: 18,464, and ConvCaps2, ``C = D = 16``: 36,896).

    Args:
        in_types: ``T_in``.
        out_types: ``T_out``.
        kernel_size: ``K`` (the paper: 3).
        stride: The paper: 2 for ConvCaps1, 1 for ConvCaps2.
        pose_size: ``P``.
        routing: :class:`MatrixEMRouting` options (its ``out_types`` is
            ``T_out``).
        init_std: Standard deviation of the transformation matrices'
            truncated normal initialisation (the paper gives none): with
            ``1 / sqrt(P)`` (0.5 for ``P = 4``) a vote entry, a sum of
            ``P`` products, is about as large as a pose entry.
    """

    def __init__(self,
                 in_types: int,
                 out_types: int,
                 kernel_size: int = 3,
                 stride: int = 1,
                 pose_size: int = 4,
                 routing: Optional[dict] = None,
                 init_std: float = 0.5) -> None:
        super().__init__()
        for name, value in (('in_types', in_types), ('out_types', out_types),
                            ('kernel_size', kernel_size), ('stride', stride),
                            ('pose_size', pose_size)):
            check_int('ConvMatrixCaps', name, value)
        self.in_types = in_types
        self.out_types = out_types
        self.kernel_size = kernel_size
        self.stride = stride
        self.pose_size = pose_size
        self.weight = nn.Parameter(
            torch.empty(in_types * kernel_size**2, out_types, pose_size,
                        pose_size))
        self.init_std = init_std
        self.routing = _build_em_routing('ConvMatrixCaps', routing,
                                         out_types)
        _init_transforms(self.weight, init_std)

    def output_grid(self, height: int, width: int) -> Tuple[int, int]:
        """Grid ``(H', W')`` for an ``H x W`` input map; a clear error when
        the kernel does not fit."""
        k = self.kernel_size
        if height < k or width < k:
            raise ValueError(
                f'ConvMatrixCaps: kernel_size={k} is larger than the '
                f'{height}x{width} capsule map; use a smaller kernel or a '
                'larger input')
        return ((height - k) // self.stride + 1,
                (width - k) // self.stride + 1)

    def forward(self, x: CapsuleMap) -> CapsuleMap:
        p = self.pose_size
        _check_capsule_map('ConvMatrixCaps', x, self.in_types, p * p)
        poses, activations = x
        n, t, pd, h, w = poses.shape
        oh, ow = self.output_grid(h, w)
        k2, positions = self.kernel_size**2, oh * ow
        # (N, T * P^2 * K^2, L): channel-major, then kernel position.
        cols = F.unfold(poses.reshape(n, t * pd, h, w), self.kernel_size,
                        stride=self.stride)
        cols = cols.view(n, t, pd, k2, positions).permute(0, 4, 1, 3, 2)
        cols = cols.reshape(n * positions, t * k2, p, p)
        a_in = F.unfold(activations, self.kernel_size, stride=self.stride)
        a_in = a_in.transpose(1, 2).reshape(n * positions, t * k2)
        # V_ij = M_i W_ij: (N * L, T_out, T_in * K^2, P, P).
        votes = torch.einsum('bipq,icqr->bcipr', cols, self.weight)
        out_poses, out_act, _ = self.routing(
            votes.reshape(n * positions, self.out_types, t * k2, pd), a_in)
        out_poses = out_poses.to(votes.dtype).view(n, oh, ow,
                                                   self.out_types, pd)
        out_act = out_act.to(votes.dtype).view(n, oh, ow, self.out_types)
        return (out_poses.permute(0, 3, 4, 1, 2).contiguous(),
                out_act.permute(0, 3, 1, 2).contiguous())

    def extra_repr(self) -> str:
        return (f'in_types={self.in_types}, out_types={self.out_types}, '
                f'kernel_size={self.kernel_size}, stride={self.stride}, '
                f'pose_size={self.pose_size}')


@MODELS.register_module()
class ClassMatrixCaps(nn.Module):
    """Class capsules: EM routing from every capsule of the last map to one
    capsule per class, with transformation matrices shared over positions
    and coordinate addition.

    ``(poses (N, T, P * P, H, W), activations (N, T, H, W)) ->
    (poses (N, K, P * P), activations (N, K))``.

    Capsule ``i`` of type ``t`` at ``(y, x)`` votes ``V_ik = M_i W_tk``
    for class ``k``; with ``coord_add``, the scaled coordinates of its
    receptive field's centre (row, column) are added to the first two
    entries of the right-hand column of the vote (see
    :func:`coordinate_offsets`), as in the paper, so that the class poses
    keep where the parts were. The input capsules are ordered type-major,
    then row, then column.

    Parameters: ``T * K * P^2 + 2 * K`` (the paper's ``D = 32`` types and
    5 smallNORB classes: 2,570; ``D = 16`` and 10 classes: 2,580).

    Args:
        in_types: ``T`` (the paper's ``D``).
        num_classes: ``K``.
        pose_size: ``P``.
        coord_add: Coordinate addition.
        routing: :class:`MatrixEMRouting` options (its ``out_types`` is
            ``K``).
        init_std: Standard deviation of the transformation matrices'
            truncated normal initialisation (see :class:`ConvMatrixCaps`).
    """

    def __init__(self,
                 in_types: int,
                 num_classes: int,
                 pose_size: int = 4,
                 coord_add: bool = True,
                 routing: Optional[dict] = None,
                 init_std: float = 0.5) -> None:
        super().__init__()
        for name, value in (('in_types', in_types),
                            ('num_classes', num_classes),
                            ('pose_size', pose_size)):
            check_int('ClassMatrixCaps', name, value)
        if coord_add and pose_size < 2:
            raise ValueError('ClassMatrixCaps: coord_add needs pose_size >= '
                             f'2, got {pose_size}')
        self.in_types = in_types
        self.num_classes = num_classes
        self.pose_size = pose_size
        self.coord_add = coord_add
        self.weight = nn.Parameter(
            torch.empty(in_types, num_classes, pose_size, pose_size))
        self.init_std = init_std
        self.routing = _build_em_routing('ClassMatrixCaps', routing,
                                         num_classes)
        _init_transforms(self.weight, init_std)

    def votes(self, poses: torch.Tensor) -> torch.Tensor:
        """``(N, T, P * P, H, W) -> (N, K, T * H * W, P * P)`` votes, with
        the coordinate addition."""
        p = self.pose_size
        n, t, pd, h, w = poses.shape
        m = poses.permute(0, 1, 3, 4, 2).reshape(n, t, h * w, p, p)
        votes = torch.einsum('ntlpq,tkqr->nktlpr', m, self.weight)
        if self.coord_add:
            votes = votes + coordinate_offsets(h, w, p, votes.dtype,
                                               votes.device)
        return votes.reshape(n, self.num_classes, t * h * w, pd)

    def forward(self, x: CapsuleMap) -> CapsuleMap:
        p = self.pose_size
        _check_capsule_map('ClassMatrixCaps', x, self.in_types, p * p)
        poses, activations = x
        votes = self.votes(poses)
        out_poses, out_act, _ = self.routing(
            votes, activations.reshape(poses.shape[0], -1))
        return out_poses.to(votes.dtype), out_act.to(votes.dtype)

    def extra_repr(self) -> str:
        return (f'in_types={self.in_types}, num_classes={self.num_classes}, '
                f'pose_size={self.pose_size}, coord_add={self.coord_add}')
