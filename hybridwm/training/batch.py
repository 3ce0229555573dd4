"""Batch: training or validation windows as tensors, the input of every loss."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["Batch", "to_batch"]


@dataclass(frozen=True)
class Batch:
    """Windows as tensors, on one shared grid or on one grid per window.

    Attributes:
        t: (H+1,) relative times shared by the windows, or (b, H+1) per-window times.
        x: (b, H+1, n_obs) observations.
        u: (b, H+1, n_u) actions (row k held on ``[t[k], t[k+1])``).
        index: optional (b,) flat sample position of each window's first sample (episodes laid
            end to end); used by multiple shooting to look up learnable window starts.
        end: optional (b,) flat position of the last sample of each window's episode.
    """

    t: torch.Tensor
    x: torch.Tensor
    u: torch.Tensor
    index: torch.Tensor | None = None
    end: torch.Tensor | None = None

    def take(self, idx: torch.Tensor) -> Batch:
        """The windows at ``idx`` ((k,) long indices)."""
        return Batch(
            self.t[idx] if self.t.ndim == 2 else self.t,
            self.x[idx],
            self.u[idx],
            None if self.index is None else self.index[idx],
            None if self.end is None else self.end[idx],
        )


def to_batch(
    t: np.ndarray,
    x: np.ndarray,
    u: np.ndarray,
    device: torch.device,
    dtype: torch.dtype,
    index: np.ndarray | None = None,
    end: np.ndarray | None = None,
) -> Batch:
    """Numpy window arrays → a :class:`Batch` on ``device`` with ``dtype``.

    Args:
        t: (H+1,) shared or (b, H+1) per-window relative times.
        x: (b, H+1, n_obs) observations.
        u: (b, H+1, n_u) actions.
        device: where the tensors go.
        dtype: floating-point type of ``t``, ``x``, ``u``.
        index: optional (b,) flat position of each window's first sample.
        end: optional (b,) flat position of the last sample of each window's episode.
    """

    def as_long(a: np.ndarray | None) -> torch.Tensor | None:
        return None if a is None else torch.as_tensor(a, dtype=torch.long, device=device)

    return Batch(
        torch.as_tensor(t, dtype=dtype, device=device),
        torch.as_tensor(x, dtype=dtype, device=device),
        torch.as_tensor(u, dtype=dtype, device=device),
        as_long(index),
        as_long(end),
    )
