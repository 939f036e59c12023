"""Index bookkeeping of capsule maps."""
from typing import Optional

import torch

__all__ = ['channels_to_capsules', 'coordinate_offsets']


def channels_to_capsules(out: torch.Tensor, num_types: int,
                         capsule_dim: int) -> torch.Tensor:
    """Group a convolution's output channels into capsules.

    ``(B, T * D, H, W) -> (B, T * H * W, D)``: channel ``t * D + d`` is
    dimension ``d`` of type ``t``, capsules ordered type-major, then row,
    then column (not ``D`` spatially adjacent values of one channel, which
    a plain ``view(B, -1, D)`` of the NCHW output would give).
    """
    b, _, h, w = out.shape
    out = out.view(b, num_types, capsule_dim, h, w)
    return out.permute(0, 1, 3, 4, 2).reshape(b, -1, capsule_dim)


def coordinate_offsets(height: int, width: int, pose_size: int,
                       dtype: torch.dtype = torch.float32,
                       device: Optional[torch.device] = None
                       ) -> torch.Tensor:
    """The coordinate addition of the paper's class capsules.

    ``(H * W, P, P)``, zero except for the first two entries of the
    right-hand column: ``[y * W + x, 0, P - 1] = (y + 0.5) / H`` (the row)
    and ``[y * W + x, 1, P - 1] = (x + 0.5) / W`` (the column). ``(y + 0.5)
    / H`` is the centre of cell ``y`` of the ``H x W`` grid stretched over
    the image: the capsule's receptive-field centre scaled to ``[0, 1]``
    (exactly so for a grid that tiles the image; valid convolutions trim
    the border a little).
    """
    offsets = torch.zeros(height, width, pose_size, pose_size, dtype=dtype,
                          device=device)
    rows = (torch.arange(height, dtype=dtype, device=device) + 0.5) / height
    cols = (torch.arange(width, dtype=dtype, device=device) + 0.5) / width
    offsets[:, :, 0, pose_size - 1] = rows.view(height, 1)
    offsets[:, :, 1, pose_size - 1] = cols.view(1, width)
    return offsets.view(height * width, pose_size, pose_size)
