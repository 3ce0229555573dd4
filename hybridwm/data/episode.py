"""Trajectory: one episode of states and held actions, validated on construction.

Conventions:
    * ``t`` has shape (T,) and is strictly increasing.
    * ``x`` has shape (T, n_x): states or observations sampled at ``t``.
    * ``u`` has shape (T, n_u) with ``n_u`` possibly 0. ``u[k]`` is held constant on
      ``[t[k], t[k+1])`` (zero-order hold); the last row acts after the last sample and is kept
      so that files stay rectangular.
    * ``x`` and ``u`` hold finite values unless the trajectory was built with
      ``allow_nan=True`` (what ``read_trajectories(..., allow_nan=True)`` does); such a set is
      cleaned with ``TrajectorySet.dropna()`` or ``TrajectorySet.interpolate()``. NaN and ±inf
      both count as missing values. ``t`` is always finite.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hybridwm.data.checks import first_missing
from hybridwm.errors import DataError, ShapeError, UnknownNameError

__all__ = ["MIN_SAMPLES", "Trajectory", "episode_name"]

#: The fewest samples of an episode that can be cleaned, resampled, written or read back (a
#: Trajectory itself may hold one).
MIN_SAMPLES = 2


def _as_float_array(value: Any, name: str, ndim: int) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(
            f"`{name}` must be numeric (convertible to float64). Got an array of "
            f"{type(value).__name__} that failed: {exc}. Convert non-numeric columns first."
        ) from None
    if ndim == 2 and arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != ndim:
        raise ShapeError(f"`{name}` must be a {ndim}-D array. Got shape {arr.shape} instead.")
    return arr


def _check_names(names: Sequence[str] | None, n: int, kind: str, prefix: str) -> tuple[str, ...]:
    if names is None:
        return tuple(f"{prefix}{i}" for i in range(n))
    names = tuple(str(n_) for n_ in names)
    if len(names) != n:
        raise ShapeError(
            f"`{kind}` has {len(names)} names {list(names)} but the array has {n} columns; "
            f"give one name per column."
        )
    if len(set(names)) != len(names):
        dup = sorted({n_ for n_ in names if names.count(n_) > 1})
        raise DataError(f"`{kind}` must be unique. Duplicated: {dup}.")
    return names


@dataclass(frozen=True, eq=False)
class Trajectory:
    """One episode of states and held actions, validated on construction.

    Args:
        t: (T,) sample times, strictly increasing, finite.
        x: (T, n_x) states or observations at ``t``.
        u: (T, n_u) actions; ``u[k]`` is held on ``[t[k], t[k+1])``. ``None`` means no actions.
        state_names: ``n_x`` unique names (default ``x0, x1, ...``).
        action_names: ``n_u`` unique names (default ``u0, u1, ...``).
        meta: free-form JSON-serialisable metadata (system, parameters, scenario, seed, ...).
        allow_nan: if True, ``x`` and ``u`` may hold missing values (NaN or ±inf), e.g. a log
            read with ``allow_nan=True`` before ``interpolate()``; ``t`` must still be finite.

    Raises:
        ShapeError: if the arrays' shapes disagree.
        DataError: if an array holds NaN/inf (unless ``allow_nan``) or ``t`` is not strictly
            increasing.
    """

    t: np.ndarray
    x: np.ndarray
    u: np.ndarray | None = None
    state_names: tuple[str, ...] | None = None
    action_names: tuple[str, ...] | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    allow_nan: bool = False

    def __post_init__(self) -> None:
        t = _as_float_array(self.t, "t", 1)
        x = _as_float_array(self.x, "x", 2)
        u = np.zeros((len(t), 0)) if self.u is None else _as_float_array(self.u, "u", 2)
        if len(t) < 1:
            raise DataError("A trajectory needs at least one sample; `t` is empty.")
        if x.shape[0] != len(t):
            raise ShapeError(
                f"`x` must have one row per time sample: expected {len(t)} rows (len(t)), "
                f"got {x.shape[0]}."
            )
        if u.shape[0] != len(t):
            raise ShapeError(
                f"`u` must have one row per time sample: expected {len(t)} rows (len(t)), "
                f"got {u.shape[0]}. Pad the last action if your log has one action fewer than states."
            )
        sn = _check_names(self.state_names, x.shape[1], "state_names", "x")
        an = _check_names(self.action_names, u.shape[1], "action_names", "u")
        _check_finite(t[:, None], ("t",), "t")
        if not self.allow_nan:
            _check_finite(x, sn, "x")
            _check_finite(u, an, "u")
        if len(t) > 1:
            dt = np.diff(t)
            bad = np.flatnonzero(dt <= 0)
            if bad.size:
                i = int(bad[0]) + 1
                raise DataError(
                    f"`t` must be strictly increasing; row {i} has t={float(t[i])!r} after "
                    f"t={float(t[i - 1])!r}. Sort by time and drop duplicate timestamps."
                )
        for a in (t, x, u):
            a.setflags(write=False)
        object.__setattr__(self, "t", t)
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "u", u)
        object.__setattr__(self, "state_names", sn)
        object.__setattr__(self, "action_names", an)
        object.__setattr__(self, "meta", dict(self.meta))
        object.__setattr__(self, "allow_nan", bool(self.allow_nan))

    # ------------------------------------------------------------------ properties
    def __len__(self) -> int:
        return len(self.t)

    @property
    def n_x(self) -> int:
        """Number of state columns."""
        return self.x.shape[1]

    @property
    def n_u(self) -> int:
        """Number of action columns (may be 0)."""
        return self.u.shape[1]

    @property
    def duration(self) -> float:
        """``t[-1] - t[0]``."""
        return float(self.t[-1] - self.t[0])

    @property
    def dt(self) -> np.ndarray:
        """(T-1,) sample intervals."""
        return np.diff(self.t)

    @property
    def is_uniform(self) -> bool:
        """True if the sample intervals are equal up to 1e-9 relative."""
        if len(self.t) < 3:
            return True
        d = self.dt
        return bool(np.allclose(d, d[0], rtol=1e-9, atol=0.0))

    @property
    def has_missing(self) -> bool:
        """True if ``x`` or ``u`` holds a missing value (NaN or ±inf)."""
        return not (np.isfinite(self.x).all() and np.isfinite(self.u).all())

    def state(self, name: str) -> np.ndarray:
        """(T,) the column of state ``name``."""
        return self.x[:, _index_of(name, self.state_names, "state")]

    def action(self, name: str) -> np.ndarray:
        """(T,) the column of action ``name``."""
        return self.u[:, _index_of(name, self.action_names, "action")]

    def replace(self, **changes: Any) -> Trajectory:
        """A copy with some fields replaced (validated again)."""
        return dataclasses.replace(self, **changes)

    def slice(self, start: int = 0, stop: int | None = None) -> Trajectory:
        """Samples ``start:stop`` as a new trajectory."""
        return self.replace(t=self.t[start:stop], x=self.x[start:stop], u=self.u[start:stop])

    def __repr__(self) -> str:
        return (
            f"Trajectory(T={len(self)}, t=[{self.t[0]:.4g}, {self.t[-1]:.4g}], "
            f"states={list(self.state_names)}, actions={list(self.action_names)})"
        )


def episode_name(label: Any) -> str:
    """How messages name an episode by its label: ``Episode 3`` or ``Episode 'run-a'``."""
    return f"Episode {label!r}" if isinstance(label, str) else f"Episode {label}"


def _index_of(name: str, names: Sequence[str], kind: str) -> int:
    try:
        return list(names).index(name)
    except ValueError:
        raise UnknownNameError(f"Unknown {kind} {name!r}. Available: {list(names)}.") from None


def _check_finite(arr: np.ndarray, names: Sequence[str], what: str) -> None:
    found = first_missing(arr)
    if found is not None:
        raise DataError(
            f"`{what}` has {found.kind} in column `{names[found.column]}` at row {found.row}; drop "
            f"or interpolate it before use, e.g. `TrajectorySet.dropna()` or "
            f"`TrajectorySet.interpolate()`."
        )
