"""Fully connected capsule layer (DigitCaps, class capsules)."""
from typing import Optional, Tuple, Union

import torch
import torch.nn as nn
from mmpretrain.registry import MODELS

from mmcaps.utils.validation import check_int, check_number

from ..routings import DynamicRouting, build_routing, lean_dynamic_routing
from ..utils import capsule_length, coordinate_offsets

__all__ = ['CapsuleLayer']

_VOTES = ('full', 'lean', 'auto')
_SHARING_KEYS = ('num_types', 'grid', 'coord_add')


@MODELS.register_module()
class CapsuleLayer(nn.Module):
    """Capsule layer: every input capsule votes for every output capsule.

    Votes (prediction vectors) ``u_hat_j|i = W_ij u_i`` are routed to the
    output capsules by a swappable routing module.
    ``(B, N_in, D_in) -> (B, N_out, D_out)``.

    **Weights.** By default one matrix ``W_ij`` per (input, output) pair,
    as in the paper's DigitCaps: ``N_in * N_out * D_in * D_out``
    parameters (1152 * 10 * 8 * 16 = 1,474,560), no bias. With
    ``weight_sharing=dict(num_types=T, grid=(H, W))`` the input capsules
    are ``T`` capsule types on an ``H x W`` grid, ordered type-major, then
    row, then column (as :class:`PrimaryCaps` makes them), and all
    positions of a type share one matrix per output capsule, as the class
    capsules of matrix capsules do: ``T * N_out * D_in * D_out``
    parameters (32 types, 1,000 classes, 8 -> 16: 4,096,000 instead of the
    200,704,000 of one matrix per capsule of a 7x7 grid). With
    ``coord_add=True`` (coordinate addition, the vector analogue of the
    matrix version's :func:`~mmcaps.models.utils.coordinate_offsets`), the
    scaled position of the input capsule is added to the first two
    components of its votes: ``u_hat_j|(t, y, x) = W_tj u_(t, y, x) + ((y
    + 0.5) / H, (x + 0.5) / W, 0, ..., 0)``, so that the class capsules
    can know where their parts are, which sharing would otherwise hide.

    **Votes.** ``votes='full'`` forms the vote tensor ``(B, N_out, N_in,
    D_out)`` and hands it to the routing (any routing algorithm):
    ``B * N_out * N_in * D_out * 4`` bytes in fp32 (737 KiB per image for
    DigitCaps, 96 MiB per image for 1,000 classes on a 7x7 grid of 32
    types), kept for backward with routing buffers of the same size.
    ``votes='lean'`` runs dynamic routing on the factors ``u`` and ``W``
    (:func:`~mmcaps.models.routings.lean_dynamic_routing`) and never forms
    it: memory ``B * N_in * D_in + |W|``, projections ``(B, T, D_in,
    N_out)`` (``P * D_out / D_in`` times smaller than the votes) and the
    couplings of one chunk of images; the same outputs and gradients (to
    float rounding). It needs
    ``routing`` to be ``DynamicRouting``, whose options it takes.
    ``votes='auto'`` takes the lean path for dynamic routing with shared
    weights and the full path otherwise, as ``tools/benchmark.py`` measured
    (docs/en/user_guides/capsule_heads.md): with shared ``W`` the lean path
    is also the faster one; with one matrix per capsule it repeats the
    vote products in every pass, so it pays only where memory is short.

    Args:
        in_capsules: ``N_in``.
        in_dim: ``D_in``.
        out_capsules: ``N_out``.
        out_dim: ``D_out``.
        routing: Config of the routing module (``type`` names a registered
            routing algorithm, e.g. ``DynamicRouting``).
        init_std: Standard deviation of ``W``'s initialisation, a normal
            distribution truncated at two standard deviations (the official
            code's ``weight_variable``: 0.1). With many input capsules a
            smaller one is needed: 0.1 makes every class capsule ~0.98 long
            at initialisation with 3,200 or 4,608 primary capsules (measured
            on MultiMNIST and 40x40 MNIST), 0.01 trains there.
        weight_sharing: ``None`` (one matrix per input capsule) or
            ``dict(num_types=T, grid=(H, W), coord_add=False)`` with
            ``T * H * W == in_capsules``.
        votes: ``'full'``, ``'lean'`` or ``'auto'`` (see above).
        chunk_size: Images per chunk of the lean path (``None``:
            :func:`~mmcaps.models.routings.auto_chunk_size`, about 24 MiB
            of couplings per chunk on a CPU, 128 MiB on a GPU).
    """

    def __init__(self,
                 in_capsules: int,
                 in_dim: int,
                 out_capsules: int,
                 out_dim: int,
                 routing: Optional[dict] = None,
                 init_std: float = 0.1,
                 weight_sharing: Optional[dict] = None,
                 votes: str = 'auto',
                 chunk_size: Optional[int] = None) -> None:
        super().__init__()
        self.in_capsules = check_int('CapsuleLayer', 'in_capsules',
                                     in_capsules)
        self.in_dim = check_int('CapsuleLayer', 'in_dim', in_dim)
        self.out_capsules = check_int('CapsuleLayer', 'out_capsules',
                                      out_capsules)
        self.out_dim = check_int('CapsuleLayer', 'out_dim', out_dim)
        self.num_groups, self.grid, coord_add = self._parse_sharing(
            weight_sharing)
        # Stored as (T, D_in, N_out * D_out), T = N_in without sharing, so
        # that all votes of a batch are one batched matmul over the groups.
        self.weight = nn.Parameter(
            torch.empty(self.num_groups, in_dim, out_capsules * out_dim))
        self.init_std = check_number('CapsuleLayer', 'init_std', init_std,
                                     minimum=0, strict_minimum=True)
        self.routing = build_routing(routing, in_capsules, out_capsules,
                                     out_dim)
        # Not in the state dict: it follows from the grid.
        self.register_buffer('offsets', None, persistent=False)
        if coord_add:
            if out_dim < 2:
                raise ValueError(
                    'CapsuleLayer: coordinate addition adds (row, column) '
                    f'to the first two vote components; out_dim={out_dim} '
                    'has fewer')
            offsets = torch.zeros(self.grid[0] * self.grid[1], out_dim)
            # The right-hand column of 2x2 pose offsets is (row, column).
            offsets[:, :2] = coordinate_offsets(*self.grid, 2)[:, :, 1]
            self.offsets = offsets
        if chunk_size is not None:
            check_int('CapsuleLayer', 'chunk_size', chunk_size)
        self.chunk_size = chunk_size
        if votes not in _VOTES:
            raise ValueError(f'CapsuleLayer: votes must be one of {_VOTES}, '
                             f'got {votes!r}')
        dynamic = isinstance(self.routing, DynamicRouting)
        if votes == 'lean' and not dynamic:
            raise ValueError(
                "CapsuleLayer: votes='lean' is dynamic routing on the "
                f'factors of the votes; {type(self.routing).__name__} '
                "routes formed votes: use votes='full' (or 'auto')")
        self.votes = votes
        self.lean = votes == 'lean' or (votes == 'auto' and dynamic
                                        and weight_sharing is not None)
        self.reset_parameters()

    def _parse_sharing(
        self, sharing: Optional[dict]
    ) -> Tuple[int, Optional[Tuple[int, int]], bool]:
        """``(T, (H, W) or None, coord_add)`` from ``weight_sharing``."""
        if sharing is None:
            return self.in_capsules, None, False
        if not isinstance(sharing, dict):
            raise ValueError('CapsuleLayer: weight_sharing must be None or '
                             'dict(num_types=T, grid=(H, W), coord_add='
                             f'False), got {sharing!r}')
        unknown = sorted(set(sharing) - set(_SHARING_KEYS))
        if unknown or 'num_types' not in sharing or 'grid' not in sharing:
            raise ValueError(
                'CapsuleLayer: weight_sharing takes num_types, grid and '
                f'optionally coord_add, got {sorted(sharing)}')
        num_types = check_int('CapsuleLayer', 'weight_sharing.num_types',
                              sharing['num_types'])
        grid = sharing['grid']
        if not isinstance(grid, (tuple, list)) or len(grid) != 2:
            raise ValueError('CapsuleLayer: weight_sharing.grid must be (H, '
                             f'W), got {grid!r}')
        grid = tuple(
            check_int('CapsuleLayer', 'weight_sharing.grid', g)
            for g in grid)
        if num_types * grid[0] * grid[1] != self.in_capsules:
            raise ValueError(
                f'CapsuleLayer: weight_sharing gives {num_types} types on a '
                f'{grid[0]}x{grid[1]} grid = '
                f'{num_types * grid[0] * grid[1]} capsules, but '
                f'in_capsules={self.in_capsules}')
        coord_add = sharing.get('coord_add', False)
        if not isinstance(coord_add, bool):
            raise ValueError('CapsuleLayer: weight_sharing.coord_add must be '
                             f'True or False, got {coord_add!r}')
        return num_types, grid, coord_add

    def reset_parameters(self) -> None:
        nn.init.trunc_normal_(self.weight, std=self.init_std,
                              a=-2 * self.init_std, b=2 * self.init_std)

    def _grouped(self, u: torch.Tensor) -> torch.Tensor:
        """Checked input capsules as ``(B, T, P, D_in)``, ``P`` positions
        of each of the ``T`` weight groups."""
        if u.dim() != 3 or u.shape[1:] != (self.in_capsules, self.in_dim):
            raise ValueError(
                f'CapsuleLayer expects capsules of shape (B, '
                f'{self.in_capsules}, {self.in_dim}), got {tuple(u.shape)}; '
                'check that the input image size and the primary capsule '
                'grid match in_capsules')
        return u.view(u.shape[0], self.num_groups, -1, self.in_dim)

    def predictions(self, u: torch.Tensor) -> torch.Tensor:
        """Votes (prediction vectors).

        ``(B, N_in, D_in) -> (B, N_out, N_in, D_out)``.
        """
        grouped = self._grouped(u)
        b, t, p, _ = grouped.shape
        # (T, B * P, D_in) @ (T, D_in, N_out * D_out)
        u_hat = torch.bmm(
            grouped.transpose(0, 1).reshape(t, b * p, self.in_dim),
            self.weight)
        u_hat = u_hat.view(t, b, p, self.out_capsules, self.out_dim)
        u_hat = u_hat.permute(1, 3, 0, 2, 4).contiguous()
        if self.offsets is not None:
            u_hat += self.offsets.to(u_hat.dtype)
        return u_hat.view(b, self.out_capsules, self.in_capsules,
                          self.out_dim)

    def forward(
        self,
        u: torch.Tensor,
        return_coupling: bool = False
    ) -> Union[torch.Tensor, Tuple[torch.Tensor, torch.Tensor]]:
        """Args:
            u: Input capsules ``(B, N_in, D_in)``.
            return_coupling: Also return the routing's coupling coefficients
                ``(B, N_out, N_in)``.

        Returns:
            Output capsules ``(B, N_out, D_out)`` (and the coefficients).
        """
        if self.lean:
            weight = self.weight.view(self.num_groups, self.in_dim,
                                      self.out_capsules, self.out_dim)
            return lean_dynamic_routing(
                self._grouped(u), weight, self.offsets,
                self.routing.num_iterations,
                self.routing.detach_intermediate, self.chunk_size,
                return_coupling)
        return self.routing(self.predictions(u), capsule_length(u),
                            return_coupling)

    def extra_repr(self) -> str:
        text = (f'in_capsules={self.in_capsules}, in_dim={self.in_dim}, '
                f'out_capsules={self.out_capsules}, out_dim={self.out_dim}')
        if self.grid is not None:
            text += (f', weight_sharing=(num_types={self.num_groups}, '
                     f'grid={self.grid}, '
                     f'coord_add={self.offsets is not None})')
        return text + f", votes='{'lean' if self.lean else 'full'}'"
