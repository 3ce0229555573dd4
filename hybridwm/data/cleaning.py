"""Cleaning and regridding of TrajectorySets: dropna, interpolate, resample, time scaling.

Each function returns a new set and leaves its input untouched; they are also available as
methods (``ts.dropna()``, ``ts.interpolate()``, ``ts.resample(dt)``, ``ts.with_time_scale(s)``).
A value is *missing* when it is NaN or ±inf; sets holding missing values come from
``read_trajectories(..., allow_nan=True)`` or ``Trajectory(..., allow_nan=True)``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from hybridwm.data.trajectory import Trajectory, TrajectorySet
from hybridwm.errors import ConfigError, DataError, ShapeError
from hybridwm.registry import Registry

__all__ = [
    "INTERPOLATION_METHODS",
    "RESAMPLE_METHODS",
    "add_noise",
    "check_finite",
    "dropna",
    "from_arrays",
    "interpolate",
    "resample",
    "with_time_scale",
]

_MIN_SAMPLES = 2


def _episode(i: int, tr: Trajectory) -> str:
    label = tr.meta.get("episode", i)
    return f"Episode {label!r}" if isinstance(label, str) else f"Episode {label}"


def check_finite(ts: TrajectorySet) -> None:
    """Raise ``DataError`` naming the first missing value (NaN/±inf) of ``ts``, if any.

    Steps that need clean data (resample, fitting) call this first.
    """
    for i, tr in enumerate(ts):
        data = np.hstack([tr.x, tr.u])
        bad = ~np.isfinite(data)
        if bad.any():
            row, col = (int(v) for v in np.argwhere(bad)[0])
            names = (*tr.state_names, *tr.action_names)  # type: ignore[misc]
            kind = "NaN" if np.isnan(data[row, col]) else "inf"
            raise DataError(
                f"{_episode(i, tr)} (trajectory {i}) has {kind} in column `{names[col]}` at row "
                f"{row}; {int(bad.sum())} missing values in it. Clean the set first with "
                f"`.dropna()` or `.interpolate()`."
            )


# ---------------------------------------------------------------------------------- dropna
def dropna(ts: TrajectorySet, *, drop_short: bool = False, stacklevel: int = 2) -> TrajectorySet:
    """Drop the samples (rows) that have a missing value in any state or action column.

    Args:
        ts: the set.
        drop_short: what to do with an episode left with fewer than 2 samples: ``False``
            (default) raises ``DataError``; ``True`` drops the episode with a ``UserWarning``.

    Returns:
        A set without missing values (``allow_nan=False``), same episode order.

    Raises:
        DataError: if an episode is left with < 2 samples (and not ``drop_short``), or every
            episode would be dropped.
    """
    out: list[Trajectory] = []
    dropped: list[str] = []
    for i, tr in enumerate(ts):
        keep = np.isfinite(tr.x).all(axis=1) & np.isfinite(tr.u).all(axis=1)
        n = int(keep.sum())
        if n < _MIN_SAMPLES:
            if not drop_short:
                raise DataError(
                    f"{_episode(i, tr)} (trajectory {i}) keeps {n} of {len(tr)} samples after "
                    f"dropping rows with missing values; an episode needs at least "
                    f"{_MIN_SAMPLES}. Use `.interpolate()` instead, or `dropna(drop_short=True)` "
                    f"to drop such episodes."
                )
            dropped.append(f"{i}")
            continue
        out.append(tr.replace(t=tr.t[keep], x=tr.x[keep], u=tr.u[keep], allow_nan=False))
    if not out:
        raise DataError(
            f"dropna() left no episode with {_MIN_SAMPLES} or more complete samples out of "
            f"{len(ts)}; use `.interpolate()` instead."
        )
    if dropped:
        warnings.warn(
            f"dropna() dropped {len(dropped)} episode(s) left with fewer than {_MIN_SAMPLES} "
            f"samples (trajectories {', '.join(dropped[:10])}).",
            UserWarning,
            stacklevel=stacklevel,
        )
    return TrajectorySet(out)


# ---------------------------------------------------------------------------------- interpolate
def _fill_linear(t: np.ndarray, col: np.ndarray) -> np.ndarray:
    ok = np.isfinite(col)
    out = col.copy()
    out[~ok] = np.interp(t[~ok], t[ok], col[ok])  # clamps to the edge values outside
    return out


def _fill_previous(t: np.ndarray, col: np.ndarray) -> np.ndarray:
    ok = np.isfinite(col)
    idx = np.where(ok, np.arange(len(col)), -1)
    idx = np.maximum.accumulate(idx)
    first = int(np.flatnonzero(ok)[0])
    idx[idx < 0] = first  # leading gap: the first valid value
    return col[idx]


INTERPOLATION_METHODS: Registry[Callable[[np.ndarray, np.ndarray], np.ndarray]] = Registry(
    "interpolation method", "action_method"
)
INTERPOLATION_METHODS.register("linear", _fill_linear)
INTERPOLATION_METHODS.register("previous", _fill_previous)


def interpolate(ts: TrajectorySet, *, action_method: str = "linear") -> TrajectorySet:
    """Fill missing values (NaN/±inf) by interpolation in time, per episode and column.

    States are interpolated linearly in ``t`` between the neighbouring valid samples. Gaps at
    the start or end of an episode (no valid value on one side) take the nearest valid value.

    Args:
        ts: the set.
        action_method: ``"linear"`` (default) like the states, or ``"previous"``: the last
            valid action stays in force (zero-order hold), matching how actions are applied.

    Returns:
        A set without missing values (``allow_nan=False``).

    Raises:
        DataError: if a column has no valid value at all in some episode.
        UnknownNameError: for an unknown ``action_method``.
    """
    fill_u = INTERPOLATION_METHODS[action_method]
    out = []
    for i, tr in enumerate(ts):
        if not tr.has_missing:
            out.append(tr.replace(allow_nan=False))
            continue
        arrays = []
        for arr, names, fill in (
            (tr.x, tr.state_names, _fill_linear),
            (tr.u, tr.action_names, fill_u),
        ):
            new = arr.copy()
            for j in range(arr.shape[1]):
                col = arr[:, j]
                ok = np.isfinite(col)
                if ok.all():
                    continue
                if not ok.any():
                    raise DataError(
                        f"{_episode(i, tr)} (trajectory {i}) has no valid value in column "
                        f"`{names[j]}` (all {len(col)} are missing), so it cannot be "
                        f"interpolated. Drop that episode or that column."
                    )
                new[:, j] = fill(tr.t, col)
            arrays.append(new)
        out.append(tr.replace(x=arrays[0], u=arrays[1], allow_nan=False))
    return TrajectorySet(out)


# ---------------------------------------------------------------------------------- resample
def _grid(t0: float, t1: float, dt: float) -> np.ndarray:
    n = math.floor((t1 - t0) / dt + 1e-9) + 1
    return t0 + dt * np.arange(n, dtype=np.float64)


def _resample_linear(tr: Trajectory, t_new: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
    x = np.column_stack([np.interp(t_new, tr.t, tr.x[:, j]) for j in range(tr.n_x)])
    x = x.reshape(len(t_new), tr.n_x)
    # zero-order hold: the action in force at s is the last one with timestamp <= s
    # (a tolerance of 1e-9 * dt absorbs the rounding of t0 + k * dt).
    idx = np.searchsorted(tr.t, t_new + 1e-9 * dt, side="right") - 1
    u = tr.u[np.clip(idx, 0, len(tr) - 1)]
    return x, u


RESAMPLE_METHODS: Registry[Callable[..., tuple[np.ndarray, np.ndarray]]] = Registry(
    "resample method", "method"
)
RESAMPLE_METHODS.register("linear", _resample_linear)


def resample(ts: TrajectorySet, dt: float, method: str = "linear") -> TrajectorySet:
    """Resample every episode onto a uniform grid ``t0, t0 + dt, ...`` up to its last time.

    Each episode keeps its own start ``t0``; the grid stops at the last multiple of ``dt``
    not after the episode's last sample (within 1e-9·dt). States are interpolated linearly
    in time; actions are zero-order held: the action in force at a new grid time ``s`` is the
    last action whose timestamp is ≤ ``s`` (within 1e-9·dt, to absorb rounding of the grid).

    Args:
        ts: a set without missing values.
        dt: the new sample interval, in seconds, > 0.
        method: state interpolation, ``"linear"``.

    Returns:
        A set whose episodes have uniform spacing ``dt`` and ``meta`` unchanged.

    Raises:
        ConfigError: if ``dt`` is not finite and > 0.
        UnknownNameError: for an unknown ``method``.
        DataError: if the set holds missing values, or an episode is shorter than ``dt``
            (it would keep fewer than 2 samples).
    """
    if isinstance(dt, bool) or not isinstance(dt, (int, float, np.integer, np.floating)):
        raise ConfigError(f"`dt` of resample must be a number > 0. Got {dt!r}.")
    dt = float(dt)
    if not math.isfinite(dt) or dt <= 0:
        raise ConfigError(f"`dt` of resample must be finite and > 0. Got {dt!r} instead.")
    fn = RESAMPLE_METHODS[method]
    check_finite(ts)
    out = []
    for i, tr in enumerate(ts):
        t_new = _grid(float(tr.t[0]), float(tr.t[-1]), dt)
        if len(t_new) < _MIN_SAMPLES:
            raise DataError(
                f"resample(dt={dt!r}) leaves {_episode(i, tr)} (trajectory {i}, duration "
                f"{tr.duration!r} s) with {len(t_new)} sample; use a dt no larger than "
                f"{tr.duration!r} or drop that episode."
            )
        x, u = fn(tr, t_new, dt)
        out.append(tr.replace(t=t_new, x=x, u=u))
    return TrajectorySet(out)


def with_time_scale(ts: TrajectorySet, scale: float) -> TrajectorySet:
    """Multiply every time stamp by ``scale`` (e.g. ``0.001`` to turn ms into s).

    Raises:
        ConfigError: if ``scale`` is not finite and > 0.
    """
    if isinstance(scale, bool) or not isinstance(scale, (int, float, np.integer, np.floating)):
        raise ConfigError(f"`scale` of with_time_scale must be a number > 0. Got {scale!r}.")
    s = float(scale)
    if not math.isfinite(s) or s <= 0:
        raise ConfigError(f"`scale` of with_time_scale must be finite and > 0. Got {scale!r}.")
    return TrajectorySet(tr.replace(t=tr.t * s) for tr in ts)


def add_noise(ts: TrajectorySet, level: float, *, seed: int | Sequence[int] = 0) -> TrajectorySet:
    """Add Gaussian noise of ``level`` times each state's std (over the whole set) to the states.

    Actions and times are unchanged: this models sensor noise on the measured states.

    Args:
        ts: the trajectories.
        level: noise std as a fraction of each state's std (``0.01`` is 1 % noise); >= 0.
        seed: seed (or seed sequence) of the noise; the same seed gives the same noise.

    Raises:
        ConfigError: if ``level`` is not finite and >= 0.
    """
    if isinstance(level, bool) or not isinstance(level, (int, float, np.integer, np.floating)):
        raise ConfigError(f"`level` of add_noise must be a number >= 0. Got {level!r}.")
    if not math.isfinite(float(level)) or level < 0:
        raise ConfigError(f"`level` of add_noise must be finite and >= 0. Got {level!r}.")
    rng = np.random.default_rng(seed)
    std = np.concatenate([tr.x for tr in ts]).std(axis=0)
    return TrajectorySet(
        tr.replace(x=tr.x + float(level) * std * rng.standard_normal(tr.x.shape)) for tr in ts
    )


# ---------------------------------------------------------------------------------- arrays
def from_arrays(
    t: Any,
    x: Any,
    u: Any = None,
    state_names: Sequence[str] | None = None,
    action_names: Sequence[str] | None = None,
    meta: dict[str, Any] | Sequence[dict[str, Any]] | None = None,
) -> TrajectorySet:
    """Build a set from batched arrays on one time grid (the inverse of ``stack()``).

    Args:
        t: (T,) times shared by all episodes, or (n, T) one grid per episode.
        x: (n, T, n_x) states.
        u: (n, T, n_u) actions, or ``None`` for no actions.
        state_names: ``n_x`` names (default ``x0, x1, ...``).
        action_names: ``n_u`` names (default ``u0, u1, ...``).
        meta: one dict for every episode, or a list of ``n`` dicts.

    Raises:
        ShapeError: if the shapes disagree.
        DataError: if values are missing or times are not strictly increasing.
    """
    t_arr = np.asarray(t, dtype=np.float64)
    x_arr = np.asarray(x, dtype=np.float64)
    if x_arr.ndim != 3:
        raise ShapeError(
            f"`x` of from_arrays must be 3-D (n, T, n_x). Got shape {x_arr.shape}; for a single "
            f"episode of shape (T, n_x) pass x[None]."
        )
    n, T, _ = x_arr.shape
    if n == 0:
        raise ShapeError("`x` of from_arrays holds no episode (n = 0).")
    if u is None:
        u_arr = np.zeros((n, T, 0))
    else:
        u_arr = np.asarray(u, dtype=np.float64)
        if u_arr.ndim != 3 or u_arr.shape[:2] != (n, T):
            raise ShapeError(
                f"`u` of from_arrays must have shape (n, T, n_u) = ({n}, {T}, n_u) to match "
                f"`x` {x_arr.shape}. Got {u_arr.shape}."
            )
    if t_arr.shape == (T,):
        t_all = np.broadcast_to(t_arr, (n, T))
    elif t_arr.shape == (n, T):
        t_all = t_arr
    else:
        raise ShapeError(
            f"`t` of from_arrays must have shape (T,) = ({T},) or (n, T) = ({n}, {T}). Got "
            f"{t_arr.shape}."
        )
    if meta is None or isinstance(meta, dict):
        metas = [dict(meta or {}) for _ in range(n)]
    else:
        metas = [dict(m) for m in meta]
        if len(metas) != n:
            raise ShapeError(f"`meta` must be one dict or a list of n={n} dicts. Got {len(metas)}.")
    trajs = []
    for i in range(n):
        try:
            trajs.append(
                Trajectory(
                    t=t_all[i].copy(),
                    x=x_arr[i].copy(),
                    u=u_arr[i].copy(),
                    state_names=state_names,
                    action_names=action_names,
                    meta=metas[i],
                )
            )
        except DataError as exc:
            raise type(exc)(f"Episode {i} of from_arrays: {exc}") from None
    return TrajectorySet(trajs)
