"""The routing contract: what every routing algorithm takes and returns."""
from abc import ABCMeta, abstractmethod
from typing import Optional, Tuple, Union

import torch
import torch.nn as nn
from mmpretrain.registry import MODELS

from mmcaps.utils.validation import check_int

__all__ = ['BaseRouting', 'build_routing']

_LAYER_ARGS = ('in_capsules', 'out_capsules', 'out_dim')


class BaseRouting(nn.Module, metaclass=ABCMeta):
    """Base class of routing algorithms between two capsule layers.

    ``(B, N_out, N_in, D_out) votes, (B, N_in) activations ->
    (B, N_out, D_out)`` output capsules. ``u_hat[b, j, i]`` is input capsule
    ``i``'s vote (prediction vector) for output capsule ``j``; the layout
    keeps each output capsule's votes contiguous, so that weighted sums and
    agreements are plain batched matrix products.

    Every routing is built with the same description of the layer it routes
    (``in_capsules``, ``out_capsules``, ``out_dim``; :func:`build_routing`
    passes the layer's) plus its own options, and is called with the votes
    and the input capsules' activations (their lengths, for vector
    capsules). This class checks the shapes and handles
    ``return_coupling``; an algorithm implements :meth:`route`.

    Args:
        in_capsules: ``N_in``.
        out_capsules: ``N_out``.
        out_dim: ``D_out``, the dimension of the votes and output capsules.
    """

    def __init__(self, in_capsules: int, out_capsules: int,
                 out_dim: int) -> None:
        super().__init__()
        owner = type(self).__name__
        self.in_capsules = check_int(owner, 'in_capsules', in_capsules)
        self.out_capsules = check_int(owner, 'out_capsules', out_capsules)
        self.out_dim = check_int(owner, 'out_dim', out_dim)

    def forward(
        self,
        u_hat: torch.Tensor,
        activations: torch.Tensor,
        return_coupling: bool = False
    ) -> Union[torch.Tensor, Tuple[torch.Tensor, torch.Tensor]]:
        """Route votes to output capsules.

        Args:
            u_hat: Votes ``(B, N_out, N_in, D_out)``.
            activations: Input activations ``(B, N_in)`` in ``[0, 1]``.
            return_coupling: Also return the coupling coefficients.

        Returns:
            Output capsules ``(B, N_out, D_out)`` in ``u_hat``'s dtype, and
            with ``return_coupling`` the coefficients ``(B, N_out, N_in)``
            (the share of each input capsule sent to each output capsule,
            summing to 1 over ``N_out``).
        """
        expected = (self.out_capsules, self.in_capsules, self.out_dim)
        if u_hat.dim() != 4 or tuple(u_hat.shape[1:]) != expected:
            raise ValueError(
                f'{type(self).__name__} routes votes of shape (B, N_out='
                f'{expected[0]}, N_in={expected[1]}, D_out={expected[2]}) '
                f'(the layer it was built for), got {tuple(u_hat.shape)}')
        if activations.shape != u_hat.shape[:1] + u_hat.shape[2:3]:
            raise ValueError(
                f'{type(self).__name__} expects activations of shape '
                f'({u_hat.shape[0]}, {self.in_capsules}), got '
                f'{tuple(activations.shape)}')
        v, coupling = self.route(u_hat, activations)
        if return_coupling:
            return v, coupling
        return v

    @abstractmethod
    def route(self, u_hat: torch.Tensor, activations: torch.Tensor
              ) -> Tuple[torch.Tensor, torch.Tensor]:
        """The algorithm, on checked inputs.

        ``(B, N_out, N_in, D_out), (B, N_in) -> (B, N_out, D_out) output
        capsules, (B, N_out, N_in) coupling``.
        """

    def extra_repr(self) -> str:
        return (f'in_capsules={self.in_capsules}, '
                f'out_capsules={self.out_capsules}, out_dim={self.out_dim}')


def build_routing(cfg: Optional[Union[dict, BaseRouting]], in_capsules: int,
                  out_capsules: int, out_dim: int) -> BaseRouting:
    """Build the routing of a capsule layer.

    Args:
        cfg: e.g. ``dict(type='DynamicRouting', num_iterations=3)`` (the
            algorithm and its options; ``None``: dynamic routing), or a
            built routing for this layer.
        in_capsules: The layer's ``N_in``.
        out_capsules: The layer's ``N_out``.
        out_dim: The layer's ``D_out``.

    Returns:
        The routing, built for the layer.

    Raises:
        ValueError: ``type`` names no registered routing algorithm, the
            config sets an argument that the layer gives, or a built
            routing was made for another layer.
    """
    layer = dict(in_capsules=in_capsules, out_capsules=out_capsules,
                 out_dim=out_dim)
    if isinstance(cfg, BaseRouting):
        built_for = {k: getattr(cfg, k) for k in _LAYER_ARGS}
        if built_for != layer:
            raise ValueError(f'{type(cfg).__name__} was built for a layer '
                             f'{built_for}, not this one {layer}')
        return cfg
    cfg = dict(cfg) if cfg is not None else dict(type='DynamicRouting')
    routing_type = cfg.get('type')
    cls = MODELS.get(routing_type) if isinstance(routing_type, str) else (
        routing_type)
    if not (isinstance(cls, type) and issubclass(cls, BaseRouting)):
        known = sorted(
            name for name, c in MODELS.module_dict.items()
            if isinstance(c, type) and issubclass(c, BaseRouting))
        raise ValueError(f'Unknown routing type {routing_type!r}; '
                         f'registered routing algorithms: {known}')
    given = sorted(set(cfg) & set(_LAYER_ARGS))
    if given:
        raise ValueError(
            f'{cls.__name__}: {", ".join(given)} are set by the capsule '
            'layer that builds the routing; remove them from the routing '
            'config')
    return MODELS.build(cfg, default_args=layer)
