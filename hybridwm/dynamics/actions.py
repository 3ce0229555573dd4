"""Zero-order-hold action signals that a vector field closes over during integration.

torchdiffeq has no control-input interface: a vector field is ``f(t, x)``. Actions are therefore
held in a :class:`HeldActions` object that maps a time ``t`` to the action row ``u[k]`` with
``t_k <= t < t_{k+1}`` (zero-order hold: ``u[k]`` acts on ``[t_k, t_{k+1})``). The lookup is one
``torch.searchsorted`` on the (T+1,) time grid and one row gather, with no Python loop over the
batch, so that its cost per call is small next to the vector field itself.
"""

from __future__ import annotations

import torch

__all__ = ["HeldActions"]


class HeldActions:
    """A piecewise-constant action signal shared by every sample of a batch.

    Args:
        us: (batch, T, n_u) actions; ``us[:, k]`` acts on ``[t[k], t[k+1])``. ``n_u`` may be 0.
        t: (T+1,) strictly increasing sample times (the same grid for every sample).

    The signal is extended as a constant before ``t[0]`` (``us[:, 0]``) and after ``t[T]``
    (``us[:, T-1]``), so solvers that probe slightly outside the grid see a defined value.
    """

    __slots__ = ("_empty", "_switch", "batch", "n_u", "t", "us", "us_by_time")

    def __init__(self, us: torch.Tensor, t: torch.Tensor) -> None:
        if us.ndim != 3:
            raise ValueError(f"`us` must be (batch, T, n_u); got shape {tuple(us.shape)}.")
        if t.ndim != 1 or t.shape[0] != us.shape[1] + 1:
            raise ValueError(
                f"`t` must be (T+1,) = ({us.shape[1] + 1},) for actions of shape "
                f"{tuple(us.shape)}; got shape {tuple(t.shape)}."
            )
        self.us = us
        self.t = t
        self.batch = us.shape[0]
        self.n_u = us.shape[2]
        # (T, batch, n_u): one contiguous block per interval, so a lookup is a cheap row gather.
        self.us_by_time = us.transpose(0, 1).contiguous()
        # Interior switch times t[1..T-1]; bucketize against them gives the interval index
        # directly (right=True: a time exactly on a switch belongs to the new interval).
        self._switch = t[1:-1].contiguous()
        self._empty = us.new_zeros((us.shape[0], 0)) if self.n_u == 0 else None

    @property
    def n_steps(self) -> int:
        """Number of held intervals T."""
        return self.us_by_time.shape[0]

    def index(self, t: torch.Tensor) -> torch.Tensor:
        """Interval index ``k`` with ``t[k] <= t < t[k+1]``, clamped to ``[0, T-1]`` (0-d long)."""
        return torch.searchsorted(self._switch, t.reshape(1).to(self.t.dtype), right=True)

    def __call__(self, t: torch.Tensor) -> torch.Tensor:
        """(batch, n_u) the action held at time ``t`` (a 0-d tensor)."""
        if self._empty is not None:
            return self._empty
        k = torch.searchsorted(self._switch, t.reshape(1).to(self.t.dtype), right=True)
        return self.us_by_time.index_select(0, k).squeeze(0)

    def switch_times(self) -> torch.Tensor:
        """(n_switch,) interior sample times where some sample's action actually changes.

        These are the ``jump_t`` to give an adaptive solver: marking every sample time instead
        would force a step restart at each one and make dopri5 many times slower.
        """
        if self.n_u == 0 or self.n_steps < 2:
            return self.t[:0]
        changed = (self.us_by_time[1:] != self.us_by_time[:-1]).flatten(1).any(dim=1)
        return self.t[1:-1][changed]

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None):
        """A copy on another device/dtype."""
        return HeldActions(self.us.to(device=device, dtype=dtype), self.t.to(device=device))
