"""Sampled action signals that a vector field closes over during integration.

torchdiffeq has no control-input interface: a vector field is ``f(t, x)``. Actions are therefore
held in a :class:`HeldActions` object that maps a time ``t`` to an action. Between samples the
signal is either held (zero-order hold, ``"zoh"``: ``u[k]`` acts on ``[t_k, t_{k+1})``, what a
controller that sets an action per step does) or interpolated linearly (first-order hold,
``"foh"``: ``u(t) = u[k] + (t - t_k) / (t_{k+1} - t_k) (u[k+1] - u[k])``, what a measured
continuous input sampled by a logger is closer to). The lookup is one ``torch.searchsorted`` on
the (T+1,) time grid and one row gather, with no Python loop over the batch, so that its cost per
call is small next to the vector field itself.
"""

from __future__ import annotations

import torch

__all__ = ["INTERSAMPLE", "HeldActions"]

#: the intersample behaviours: zero-order hold and first-order hold (linear interpolation)
INTERSAMPLE = ("zoh", "foh")


class HeldActions:
    """A sampled action signal shared by every sample of a batch.

    Args:
        us: (batch, T, n_u) actions under zero-order hold, ``us[:, k]`` acting on
            ``[t[k], t[k+1])``; under first-order hold (batch, T+1, n_u), the action at every
            sample time ``t[k]`` (linear in between). ``n_u`` may be 0.
        t: (T+1,) strictly increasing sample times (the same grid for every sample).
        intersample: ``"zoh"`` (default) or ``"foh"``, see the module docstring.

    The signal is extended as a constant before ``t[0]`` (``us[:, 0]``) and after ``t[T]``
    (its last row), so solvers that probe slightly outside the grid see a defined value.
    """

    __slots__ = ("_empty", "_switch", "batch", "intersample", "n_u", "t", "us", "us_by_time")

    def __init__(self, us: torch.Tensor, t: torch.Tensor, intersample: str = "zoh") -> None:
        if intersample not in INTERSAMPLE:
            raise ValueError(f"`intersample` must be one of {INTERSAMPLE}; got {intersample!r}.")
        if us.ndim != 3:
            raise ValueError(f"`us` must be (batch, T, n_u); got shape {tuple(us.shape)}.")
        rows = us.shape[1] - (intersample == "foh")
        if t.ndim != 1 or t.shape[0] != rows + 1:
            want = "T+1 rows under first-order hold" if intersample == "foh" else "T rows"
            raise ValueError(
                f"`t` must be (T+1,) = ({rows + 1},) for actions of shape "
                f"{tuple(us.shape)} ({want}); got shape {tuple(t.shape)}."
            )
        self.us = us
        self.t = t
        self.intersample = intersample
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
        """Number of intervals T."""
        return self.t.shape[0] - 1

    def index(self, t: torch.Tensor) -> torch.Tensor:
        """Interval index ``k`` with ``t[k] <= t < t[k+1]``, clamped to ``[0, T-1]`` (0-d long)."""
        return torch.searchsorted(self._switch, t.reshape(1).to(self.t.dtype), right=True)

    def __call__(self, t: torch.Tensor) -> torch.Tensor:
        """(batch, n_u) the action held at time ``t`` (a 0-d tensor)."""
        if self._empty is not None:
            return self._empty
        k = torch.searchsorted(self._switch, t.reshape(1).to(self.t.dtype), right=True)
        if self.intersample == "zoh":
            return self.us_by_time.index_select(0, k).squeeze(0)
        ends = self.us_by_time.index_select(0, torch.cat((k, k + 1)))
        t0, t1 = self.t[k], self.t[k + 1]
        frac = ((t.to(self.t.dtype) - t0) / (t1 - t0)).clamp(0, 1).to(ends.dtype)
        return ends[0] + frac * (ends[1] - ends[0])

    def switch_times(self) -> torch.Tensor:
        """(n_switch,) interior sample times where some sample's action actually changes.

        These are the ``jump_t`` to give an adaptive solver: marking every sample time instead
        would force a step restart at each one and make dopri5 many times slower. A
        first-order-hold signal is continuous, but its slope jumps where it changes: those
        kinks are returned (an error-controlled step across one loses its order).
        """
        if self.n_u == 0 or self.n_steps < 2:
            return self.t[:0]
        if self.intersample == "foh":
            dt = (self.t[1:] - self.t[:-1]).to(self.us_by_time.dtype)
            slope = (self.us_by_time[1:] - self.us_by_time[:-1]) / dt[:, None, None]
            changed = (slope[1:] != slope[:-1]).flatten(1).any(dim=1)
            return self.t[1:-1][changed]
        changed = (self.us_by_time[1:] != self.us_by_time[:-1]).flatten(1).any(dim=1)
        return self.t[1:-1][changed]

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None):
        """A copy on another device/dtype."""
        us = self.us.to(device=device, dtype=dtype)
        return HeldActions(us, self.t.to(device=device), self.intersample)
