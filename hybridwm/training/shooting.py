"""Multiple shooting: learnable window starts for the hidden coordinates, tied by continuity."""

from __future__ import annotations

import torch
from torch import nn

from hybridwm.dynamics import ODEModel
from hybridwm.errors import ShapeError
from hybridwm.training.batch import Batch

__all__ = ["MultipleShooting"]


class MultipleShooting(nn.Module):
    """Learnable window starts for the hidden coordinates, tied together by continuity.

    One long record trains like many short episodes when each window starts from a state that
    agrees with where the previous windows ended. The hidden (unmeasured) coordinates of every
    sample position of the training episodes get a learnable start value ``s[p]`` (normalized
    units); a window starting at position ``p`` starts from ``s[p]``, and the continuity penalty
    ``mean ‖(x̂_hidden(p + j) - s[p + j]) / scale‖²`` over the window's predicted steps ``j``
    (within its episode) makes the starts consistent with the dynamics. The encoder is trained
    alongside to reproduce the starts from the observations (``"encoder"`` part), so it can
    estimate the hidden state of a new record.

    The starts are the module's only parameter (``starts``, (n_positions, n_hidden)), so they
    travel with its ``state_dict``; the hidden-coordinate index and normalization are buffers
    derived from the model and are not saved.

    Args:
        model: the model (must have hidden coordinates).
        n_positions: total number of samples of the training episodes (laid end to end).
    """

    hidden_index: torch.Tensor
    mean: torch.Tensor
    scale: torch.Tensor

    def __init__(self, model: ODEModel, n_positions: int) -> None:
        super().__init__()
        names = model.state_names
        index = torch.tensor([names.index(n) for n in model.hidden_names], dtype=torch.long)
        norm = model.dynamics.normalizer
        ref = norm.x_std
        self.register_buffer("hidden_index", index, persistent=False)
        self.register_buffer("mean", norm.x_mean.index_select(0, index).detach().clone(), False)
        self.register_buffer("scale", norm.x_std.index_select(0, index).detach().clone(), False)
        self.starts = nn.Parameter(
            torch.zeros(n_positions, len(model.hidden_names), dtype=ref.dtype, device=ref.device)
        )

    def start_values(self, batch: Batch) -> torch.Tensor:
        """(b, n_hidden) physical start values of the batch's windows."""
        return self.mean + self.scale * self.starts.index_select(0, _positions(batch))

    def continuity(self, batch: Batch, xs: torch.Tensor) -> torch.Tensor:
        """Mean squared normalized gap between predicted hidden states and later starts.

        Args:
            batch: the windows (with ``index`` and ``end``).
            xs: (b, h+1, n_x) predicted full states of the windows.
        """
        index = _positions(batch)
        if batch.end is None:
            raise ShapeError("Multiple shooting needs each window's episode end (Batch.end).")
        h = xs.shape[1] - 1
        j = torch.arange(1, h + 1, device=index.device)
        pos = index[:, None] + j[None]
        valid = pos <= batch.end[:, None]
        pos = torch.where(valid, pos, index[:, None])
        target = self.starts[pos]
        pred = (xs[:, 1:].index_select(-1, self.hidden_index) - self.mean) / self.scale
        gap = (pred - target).pow(2).sum(-1) * valid
        return gap.sum() / (valid.sum().clamp_min(1) * self.starts.shape[1])

    def encoder_match(self, model: ODEModel, batch: Batch) -> torch.Tensor:
        """Mean squared normalized error of the encoder against the (detached) starts."""
        if model.encoder is None:
            return self.starts.new_zeros(())
        enc = model.encoder(batch.x, batch.u, batch.t)
        target = self.starts.index_select(0, _positions(batch)).detach()
        return ((enc - self.mean) / self.scale - target).pow(2).mean()


def _positions(batch: Batch) -> torch.Tensor:
    """(b,) flat start positions of the windows; a batch without them cannot be shot."""
    if batch.index is None:
        raise ShapeError(
            "Multiple shooting needs each window's flat sample position (Batch.index); build "
            "the batch with to_batch(..., index=..., end=...)."
        )
    return batch.index
