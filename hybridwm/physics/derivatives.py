"""Time derivatives of sampled states, and regressors aligned with held (zero-order-hold) actions.

Why alignment. Actions are held: ``u[k]`` acts on ``[t_k, t_{k+1})``. A finite-difference
derivative is a linear combination of samples, ``D[x]_k = sum_j w_kj x_j`` with
``sum_j w_kj = 0``, so for ``dx/dt = f(x, u)``

    D[x]_k = sum_j w_kj (x_j - x_0) = sum_j w_kj I_j,   I_j = integral_{t_0}^{t_j} f(x(s), u(s)) ds.

The regressor that matches ``D[x]_k`` is therefore ``D[I]_k``: the *same* differentiation applied
to the running integral of the feature, not the feature at ``t_k``. For a pure action feature
``I`` is exact (``u`` is constant on each interval), and for the central difference ``D[I]_k`` is
exactly ``(u[k-1] + u[k]) / 2``; at one-sided end points and for smoothed (Savitzky-Golay) or
non-uniform stencils it is the matching weighted value, because the very same linear operator
is applied. For a product ``u * g(x)`` the integral over ``[t_i, t_{i+1}]`` is
``u[i] * (g(x_i) + g(x_{i+1})) / 2 * h_i`` (trapezoid with the held action), which is second-order
accurate, whereas "product of the aligned action with g(x_k)" is off by ``O(h * (u[k] - u[k-1]))``
and "mean of u[k-1] g(x_{k-1}) and u[k] g(x_k)" by ``O(h * u)``. So products are aligned by
integrating the product with the held action, then differentiating.

``align="actions"`` (default) applies this to every feature that contains an action;
``align="all"`` to every feature (for state-only features it is a light smoothing that also
cancels part of the finite-difference truncation error); ``align="none"`` uses the features at
the samples, like a bare pysindy fit.

This needs a *linear* differentiation method: finite differences (any order, uniform or not) and
smoothed finite differences (Savitzky-Golay then finite differences) are.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from hybridwm.data import TrajectorySet
from hybridwm.errors import ConfigError, DataError
from hybridwm.registry import Registry

__all__ = [
    "ALIGN_MODES",
    "DIFFERENTIATION",
    "RegressionData",
    "differentiate",
    "held_integral",
    "make_differentiation",
    "min_samples",
    "regression_data",
    "resolve_align",
]

ALIGN_MODES = ("actions", "all", "none")


def _finite_difference(order: int = 2, **_: Any) -> Any:
    import pysindy as ps

    return ps.FiniteDifference(order=order)


def _smoothed(order: int = 2, window: int = 11, polyorder: int = 3, **_: Any) -> Any:
    import pysindy as ps

    if window < polyorder + 2 or window % 2 == 0:
        raise ConfigError(
            f"Savitzky-Golay `window` must be odd and >= polyorder + 2 ({polyorder + 2}). Got "
            f"{window}; try window={max(polyorder + 2, window) | 1}."
        )
    return ps.SmoothedFiniteDifference(
        order=order, smoother_kws={"window_length": window, "polyorder": polyorder, "axis": 0}
    )


DIFFERENTIATION: Registry[Callable[..., Any]] = Registry(
    "differentiation method", "differentiation"
)
DIFFERENTIATION.register("finite_difference", _finite_difference)
DIFFERENTIATION.register("smoothed_finite_difference", _smoothed)
DIFFERENTIATION.register("savgol", _smoothed)


def make_differentiation(
    method: Any = "finite_difference", *, order: int = 2, window: int = 11, polyorder: int = 3
) -> Any:
    """A pysindy differentiation object from a registry name (or the object itself).

    Args:
        method: ``"finite_difference"``, ``"smoothed_finite_difference"`` / ``"savgol"``, or a
            ``pysindy`` differentiation object (it must be linear for action alignment).
        order: accuracy order of the finite differences.
        window: Savitzky-Golay window length (odd) for the smoothed method.
        polyorder: Savitzky-Golay polynomial order.
    """
    if isinstance(method, str):
        return DIFFERENTIATION[method](order=order, window=window, polyorder=polyorder)
    if not callable(method):
        raise ConfigError(
            f"`differentiation` must be a name ({DIFFERENTIATION.names()}) or a pysindy "
            f"differentiation object. Got {type(method).__name__}."
        )
    return method


def min_samples(method: Any) -> int:
    """Fewest samples a trajectory needs for ``method``."""
    n = int(getattr(method, "n_stencil", 3))
    n = max(n, int(getattr(method, "n_stencil_forward", n)))
    kws = getattr(method, "smoother_kws", None) or {}
    return max(n, int(kws.get("window_length", 0)))


def differentiate(t: np.ndarray, x: np.ndarray, method: Any) -> np.ndarray:
    """Time derivative of sampled columns.

    Args:
        t: (T,) strictly increasing sample times.
        x: (T, ...) values at ``t`` (any trailing shape).
        method: a pysindy differentiation object (see :func:`make_differentiation`).

    Returns:
        (T, ...) derivative estimates (NaN where the method drops end points).
    """
    t = np.asarray(t, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    shape = x.shape
    flat = x.reshape(shape[0], -1)
    d = np.diff(t)
    uniform = len(t) < 3 or np.allclose(d, d[0], rtol=1e-9, atol=0.0)
    out = method(flat, float(d[0]) if uniform else t)
    return np.asarray(out).reshape(shape)


def held_integral(t: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Running integral of a signal over held-action intervals (trapezoid on each interval).

    Args:
        t: (T,) sample times.
        left: (T-1, k) value at the start of each interval, ``g(x_i, u_i)``.
        right: (T-1, k) value at the end of each interval with the *same* held action,
            ``g(x_{i+1}, u_i)``.

    Returns:
        (T, k) with row 0 equal to 0 and row j the integral over ``[t_0, t_j]``.
    """
    h = np.diff(np.asarray(t, dtype=np.float64))[:, None]
    inc = 0.5 * h * (left + right)
    out = np.empty((len(t), left.shape[1]))
    out[0] = 0.0
    np.cumsum(inc, axis=0, out=out[1:])
    return out


@dataclass
class RegressionData:
    """Stacked rows of a derivative regression over many trajectories.

    Attributes:
        theta: (N, k) regressors (aligned where asked).
        dx: (N, n_x) derivative estimates of the states.
        trajectory: (N,) index of the trajectory of each row.
        row: (N,) sample index of each row within its trajectory.
    """

    theta: np.ndarray
    dx: np.ndarray
    trajectory: np.ndarray
    row: np.ndarray


def resolve_align(align: Any) -> str:
    """The alignment mode named by ``align``: one of :data:`ALIGN_MODES`; ``True`` means
    ``"actions"``, ``False`` or ``None`` ``"none"``."""
    if align is True:
        return "actions"
    if align is False or align is None:
        return "none"
    if align not in ALIGN_MODES:
        raise ConfigError(f"`align` must be one of {list(ALIGN_MODES)} (or a bool). Got {align!r}.")
    return str(align)


def regression_data(
    data: TrajectorySet,
    fn: Callable[[np.ndarray, np.ndarray], np.ndarray],
    method: Any,
    align_columns: np.ndarray,
    *,
    check: Callable[[np.ndarray, str], None] | None = None,
    state_columns: np.ndarray | None = None,
) -> RegressionData:
    """Regressors ``fn(x, u)`` and state derivatives for all trajectories, aligned and stacked.

    Each trajectory is differentiated on its own (they may differ in length and time grid);
    trajectories with the same length and uniform step are differentiated together in one call.

    Args:
        data: the trajectories.
        fn: maps ``x`` (N, n_x) and ``u`` (N, n_u) to regressors (N, k).
        method: pysindy differentiation object.
        align_columns: (k,) bool, the regressors to align with the held actions (see module doc).
        check: called as ``check(values, where)`` on evaluated regressors to reject NaN/inf.
        state_columns: indices of the data's state columns whose derivatives are returned
            (default all).

    Returns:
        The stacked :class:`RegressionData`; rows where the method gives NaN are dropped.

    Raises:
        DataError: a trajectory is too short for the differentiation method.
    """
    _check_lengths(data, method)
    lengths = data.lengths
    xs = np.concatenate([tr.x for tr in data], axis=0)
    us = np.concatenate([tr.u for tr in data], axis=0)
    theta = np.asarray(fn(xs, us), dtype=np.float64)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    if check is not None:
        _check_by_trajectory(check, theta, offsets)
    sc = np.arange(data.n_x) if state_columns is None else np.asarray(state_columns)
    J = np.flatnonzero(np.asarray(align_columns, dtype=bool))
    right = _held_right_values(data, fn, J, offsets, check) if J.size else None
    # columns to differentiate: the states, then the running integrals of aligned regressors
    blocks: list[np.ndarray] = []
    for i, tr in enumerate(data):
        a, b = offsets[i], offsets[i + 1]
        cols = [tr.x[:, sc]]
        if right is not None:
            ra, rb = a - i, b - i - 1
            cols.append(held_integral(tr.t, theta[a : b - 1, J], right[ra:rb]))
        blocks.append(np.hstack(cols) if len(cols) > 1 else cols[0])
    D = np.concatenate(_differentiate_blocks(data, blocks, method), axis=0)
    dx = D[:, : len(sc)]
    if J.size:
        theta[:, J] = D[:, len(sc) :]
    traj = np.repeat(np.arange(len(data)), lengths)
    row = np.concatenate([np.arange(n) for n in lengths])
    keep = np.isfinite(dx).all(axis=1) & np.isfinite(theta).all(axis=1)
    if not keep.all():
        theta, dx, traj, row = theta[keep], dx[keep], traj[keep], row[keep]
    return RegressionData(theta=theta, dx=dx, trajectory=traj, row=row)


def _check_lengths(data: TrajectorySet, method: Any) -> None:
    """Raise :class:`DataError` naming the first trajectory too short for ``method``."""
    need = min_samples(method)
    lengths = data.lengths
    short = np.flatnonzero(lengths < need)
    if short.size:
        i = int(short[0])
        raise DataError(
            f"Trajectory {i} has {int(lengths[i])} samples, too short to differentiate with "
            f"{type(method).__name__} (needs at least {need}). Drop short trajectories, e.g. "
            f"`data.filter(lambda tr: len(tr) >= {need})`, or use a smaller smoothing window."
        )


def _held_right_values(
    data: TrajectorySet,
    fn: Callable[[np.ndarray, np.ndarray], np.ndarray],
    columns: np.ndarray,
    offsets: np.ndarray,
    check: Callable[[np.ndarray, str], None] | None,
) -> np.ndarray:
    """(N - n_traj, len(columns)) regressors at the end of each interval with its held action,
    ``fn(x_{i+1}, u_i)``, stacked over the trajectories (``offsets``: (n_traj + 1,) row offsets
    of the trajectories in the stacked samples)."""
    xr = np.concatenate([tr.x[1:] for tr in data], axis=0)
    ur = np.concatenate([tr.u[:-1] for tr in data], axis=0)
    right = np.asarray(fn(xr, ur), dtype=np.float64)[:, columns]
    if check is not None:
        _check_by_trajectory(check, right, offsets - np.arange(len(offsets)), shifted=True)
    return right


def _differentiate_blocks(
    data: TrajectorySet, blocks: list[np.ndarray], method: Any
) -> list[np.ndarray]:
    """Time derivative of each trajectory's (T_i, c) block of columns; trajectories with the same
    length and uniform step are differentiated together in one call."""
    derivs: list[np.ndarray | None] = [None] * len(data)
    groups: dict[tuple[int, float], list[int]] = {}
    for i, tr in enumerate(data):
        if tr.is_uniform and len(tr) >= 2:
            groups.setdefault((len(tr), round(float(tr.t[1] - tr.t[0]), 12)), []).append(i)
        else:
            derivs[i] = differentiate(tr.t, blocks[i], method)
    for members in groups.values():
        stacked = np.stack([blocks[i] for i in members], axis=1)  # (T, n, c)
        d = differentiate(data[members[0]].t, stacked, method)
        for j, i in enumerate(members):
            derivs[i] = d[:, j]
    return derivs  # type: ignore[return-value]


def _check_by_trajectory(
    check: Callable[[np.ndarray, str], None],
    values: np.ndarray,
    offsets: np.ndarray,
    shifted: bool = False,
) -> None:
    if np.isfinite(values).all():
        return
    for i in range(len(offsets) - 1):
        part = values[offsets[i] : offsets[i + 1]]
        where = f"trajectory {i}" + (
            " (evaluated at the next sample with the held action)" if shifted else ""
        )
        check(part, where)
