"""Cleaning and regridding of episodes: dropna, interpolate, resample, time scaling, noise.

The functions take the episodes of a set (any sequence of :class:`Trajectory` sharing names,
e.g. a ``TrajectorySet``) and return new episodes, leaving their input untouched; users call
them as methods of ``TrajectorySet`` (``ts.dropna()``, ``ts.interpolate()``, ``ts.resample(dt)``,
``ts.with_time_scale(s)``, ``ts.add_noise(level)``). A value is *missing* when it is NaN or
±inf; episodes holding missing values come from ``read_trajectories(..., allow_nan=True)`` or
``Trajectory(..., allow_nan=True)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from hybridwm.data.checks import check_number, first_missing, warn_caller
from hybridwm.data.episode import MIN_SAMPLES, Trajectory, episode_name
from hybridwm.errors import DataError
from hybridwm.registry import Registry

__all__ = [
    "INTERPOLATION_METHODS",
    "RESAMPLE_METHODS",
    "add_noise",
    "check_finite",
    "dropna",
    "interpolate",
    "resample",
    "with_time_scale",
]


def _episode(i: int, tr: Trajectory) -> str:
    return episode_name(tr.meta.get("episode", i))


def check_finite(episodes: Sequence[Trajectory]) -> None:
    """Raise ``DataError`` naming the first missing value (NaN/±inf) of ``episodes``, if any.

    Steps that need clean data (resample, fitting) call this first.
    """
    for i, tr in enumerate(episodes):
        data = np.hstack([tr.x, tr.u])
        found = first_missing(data)
        if found is not None:
            names = (*tr.state_names, *tr.action_names)  # type: ignore[misc]
            raise DataError(
                f"{_episode(i, tr)} (trajectory {i}) has {found.kind} in column "
                f"`{names[found.column]}` at row {found.row}; "
                f"{int(np.count_nonzero(~np.isfinite(data)))} missing values in it. Clean the set "
                f"first with `.dropna()` or `.interpolate()`."
            )


# ---------------------------------------------------------------------------------- dropna
def dropna(episodes: Sequence[Trajectory], *, drop_short: bool = False) -> list[Trajectory]:
    """Drop the samples (rows) that have a missing value in any state or action column.

    Args:
        episodes: the episodes.
        drop_short: what to do with an episode left with fewer than 2 samples: ``False``
            (default) raises ``DataError``; ``True`` drops the episode with a ``UserWarning``.

    Returns:
        Episodes without missing values (``allow_nan=False``), in the same order.

    Raises:
        DataError: if an episode is left with < 2 samples (and not ``drop_short``), or every
            episode would be dropped.
    """
    out: list[Trajectory] = []
    dropped: list[str] = []
    for i, tr in enumerate(episodes):
        keep = np.isfinite(tr.x).all(axis=1) & np.isfinite(tr.u).all(axis=1)
        n = int(keep.sum())
        if n < MIN_SAMPLES:
            if not drop_short:
                raise DataError(
                    f"{_episode(i, tr)} (trajectory {i}) keeps {n} of {len(tr)} samples after "
                    f"dropping rows with missing values; an episode needs at least "
                    f"{MIN_SAMPLES}. Use `.interpolate()` instead, or `dropna(drop_short=True)` "
                    f"to drop such episodes."
                )
            dropped.append(f"{i}")
            continue
        out.append(tr.replace(t=tr.t[keep], x=tr.x[keep], u=tr.u[keep], allow_nan=False))
    if not out:
        raise DataError(
            f"dropna() left no episode with {MIN_SAMPLES} or more complete samples out of "
            f"{len(episodes)}; use `.interpolate()` instead."
        )
    if dropped:
        warn_caller(
            f"dropna() dropped {len(dropped)} episode(s) left with fewer than {MIN_SAMPLES} "
            f"samples (trajectories {', '.join(dropped[:10])})."
        )
    return out


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


def interpolate(
    episodes: Sequence[Trajectory], *, action_method: str = "linear"
) -> list[Trajectory]:
    """Fill missing values (NaN/±inf) by interpolation in time, per episode and column.

    States are interpolated linearly in ``t`` between the neighbouring valid samples. Gaps at
    the start or end of an episode (no valid value on one side) take the nearest valid value.

    Args:
        episodes: the episodes.
        action_method: ``"linear"`` (default) like the states, or ``"previous"``: the last
            valid action stays in force (zero-order hold), matching how actions are applied.

    Returns:
        Episodes without missing values (``allow_nan=False``).

    Raises:
        DataError: if a column has no valid value at all in some episode.
        UnknownNameError: for an unknown ``action_method``.
    """
    fill_u = INTERPOLATION_METHODS[action_method]
    return [
        tr.replace(
            x=_filled(i, tr, tr.x, tr.state_names, _fill_linear),
            u=_filled(i, tr, tr.u, tr.action_names, fill_u),
            allow_nan=False,
        )
        if tr.has_missing
        else tr.replace(allow_nan=False)
        for i, tr in enumerate(episodes)
    ]


def _filled(
    i: int,
    tr: Trajectory,
    values: np.ndarray,
    names: Sequence[str],
    fill: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> np.ndarray:
    """(T, n) ``values`` (the states or actions of episode ``i``) with every gap filled."""
    new = values.copy()
    for j in range(values.shape[1]):
        col = values[:, j]
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
    return new


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


def resample(episodes: Sequence[Trajectory], dt: float, method: str = "linear") -> list[Trajectory]:
    """Resample every episode onto a uniform grid ``t0, t0 + dt, ...`` up to its last time.

    Each episode keeps its own start ``t0``; the grid stops at the last multiple of ``dt``
    not after the episode's last sample (within 1e-9·dt). States are interpolated linearly
    in time; actions are zero-order held: the action in force at a new grid time ``s`` is the
    last action whose timestamp is ≤ ``s`` (within 1e-9·dt, to absorb rounding of the grid).

    Args:
        episodes: episodes without missing values.
        dt: the new sample interval, in seconds, > 0.
        method: state interpolation, ``"linear"``.

    Returns:
        Episodes of uniform spacing ``dt``, ``meta`` unchanged.

    Raises:
        ConfigError: if ``dt`` is not finite and > 0.
        UnknownNameError: for an unknown ``method``.
        DataError: if the set holds missing values, or an episode is shorter than ``dt``
            (it would keep fewer than 2 samples).
    """
    dt = check_number(dt, "`dt` of resample")
    fn = RESAMPLE_METHODS[method]
    check_finite(episodes)
    out = []
    for i, tr in enumerate(episodes):
        t_new = _grid(float(tr.t[0]), float(tr.t[-1]), dt)
        if len(t_new) < MIN_SAMPLES:
            raise DataError(
                f"resample(dt={dt!r}) leaves {_episode(i, tr)} (trajectory {i}, duration "
                f"{tr.duration!r} s) with {len(t_new)} sample; use a dt no larger than "
                f"{tr.duration!r} or drop that episode."
            )
        x, u = fn(tr, t_new, dt)
        out.append(tr.replace(t=t_new, x=x, u=u))
    return out


def with_time_scale(episodes: Sequence[Trajectory], scale: float) -> list[Trajectory]:
    """Multiply every time stamp by ``scale`` (e.g. ``0.001`` to turn ms into s).

    An episode read through a column mapping remembers it in ``meta["columns"]``; its
    ``time_scale`` is multiplied too, so that reading the file with it gives these times.

    Raises:
        ConfigError: if ``scale`` is not finite and > 0.
    """
    s = check_number(scale, "`scale` of with_time_scale")
    return [tr.replace(t=tr.t * s, meta=_scaled_mapping(tr.meta, s)) for tr in episodes]


def _scaled_mapping(meta: dict[str, Any], scale: float) -> dict[str, Any]:
    columns = meta.get("columns")
    if not isinstance(columns, dict) or "time_scale" not in columns:
        return meta
    return {**meta, "columns": {**columns, "time_scale": columns["time_scale"] * scale}}


def add_noise(
    episodes: Sequence[Trajectory], level: float, *, seed: int | Sequence[int] = 0
) -> list[Trajectory]:
    """Add Gaussian noise of ``level`` times each state's std (over all episodes) to the states.

    Actions and times are unchanged: this models sensor noise on the measured states.

    Args:
        episodes: the trajectories.
        level: noise std as a fraction of each state's std (``0.01`` is 1 % noise); >= 0.
        seed: seed (or seed sequence) of the noise; the same seed gives the same noise.

    Raises:
        ConfigError: if ``level`` is not finite and >= 0.
    """
    noise = check_number(level, "`level` of add_noise", inclusive=True)
    rng = np.random.default_rng(seed)
    std = np.concatenate([tr.x for tr in episodes]).std(axis=0)
    return [tr.replace(x=tr.x + noise * std * rng.standard_normal(tr.x.shape)) for tr in episodes]
