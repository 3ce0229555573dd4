"""Open-loop rollout errors against ground truth: pure numpy functions.

Array conventions (every function below):
    * ``pred`` and ``true`` have shape (n_episodes, T, n_x): ``n_episodes`` rollouts of ``T``
      samples of ``n_x`` states. A single episode of shape (T, n_x) is accepted too and treated
      as ``n_episodes == 1``.
    * ``scale`` has shape (n_x,): the per-state normalisation. When it is ``None`` it defaults to
      :func:`default_scale` of ``true``: the standard deviation (ddof=0) of each state over all
      episodes and time steps. A state that is constant in ``true`` has zero std and cannot
      normalise anything, so :func:`default_scale` raises :class:`~hybridwm.errors.DataError`
      and asks for an explicit ``scale=`` (for example the std of the *training* data, which is
      the better choice anyway). No epsilon is added silently.

The project's nRMSE:
    ``nrmse = mean_i [ RMSE_i / scale_i ]`` where ``RMSE_i`` is the root-mean-square error of
    state ``i`` over all episodes and time steps. Every normalised quantity here (per-state,
    per-step, per-episode) is this same formula restricted to a subset of the samples.

NaN handling:
    ``true`` must be finite: a NaN or inf there is a data problem and raises ``DataError``.
    A NaN or inf in ``pred`` is a *diverged rollout*, not an error: error metrics return
    ``nan``/``inf`` for the affected quantity, :func:`valid_prediction_time` counts the step as
    failed, and :func:`count_diverged` counts the episode.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from hybridwm.errors import ConfigError, DataError, ShapeError

__all__ = [
    "DIVERGENCE_FACTOR",
    "count_diverged",
    "default_scale",
    "diverged_mask",
    "energy_drift",
    "nrmse",
    "nrmse_per_state",
    "nrmse_trajectories",
    "nrmse_vs_horizon",
    "nrmse_vs_horizon_ragged",
    "rmse",
    "rmse_per_state",
    "valid_prediction_time",
]


# ---------------------------------------------------------------------------- validation helpers
def _as_array(value: Any, name: str) -> np.ndarray:
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(
            f"`{name}` must be a numeric array (convertible to float64); conversion failed: {exc}."
        ) from None


def _as_3d(arr: np.ndarray, name: str) -> np.ndarray:
    if arr.ndim == 2:
        return arr[None]
    if arr.ndim != 3:
        raise ShapeError(
            f"`{name}` must have shape (n_episodes, T, n_x) or (T, n_x). Got shape {arr.shape}; "
            f"reshape a single state series with `x[:, None]`."
        )
    return arr


def _check_true_finite(true: np.ndarray) -> None:
    bad = ~np.isfinite(true)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        kind = "NaN" if np.isnan(true[idx]) else "inf"
        raise DataError(
            f"`true` has {kind} at index {idx}; ground truth must be finite. Drop or interpolate "
            f"the bad samples (NaN in `pred` is allowed and counts as divergence)."
        )


def _pair(pred: Any, true: Any, *, three_d: bool = True) -> tuple[np.ndarray, np.ndarray]:
    p = _as_array(pred, "pred")
    t = _as_array(true, "true")
    if p.shape != t.shape:
        raise ShapeError(
            f"`pred` and `true` must have the same shape. Got pred {p.shape} and true {t.shape}; "
            f"both should be (n_episodes, T, n_x) on the same time grid."
        )
    _check_true_finite(t)
    if three_d:
        p, t = _as_3d(p, "pred"), _as_3d(t, "true")
    return p, t


def _scale(scale: Any, true3: np.ndarray) -> np.ndarray:
    n_x = true3.shape[-1]
    if scale is None:
        return default_scale(true3)
    s = _as_array(scale, "scale")
    if s.ndim == 0:
        s = np.full(n_x, float(s))
    if s.shape != (n_x,):
        raise ShapeError(
            f"`scale` must have shape (n_x,) = ({n_x},), one value per state. Got shape {s.shape}."
        )
    if not np.all(np.isfinite(s)) or np.any(s <= 0):
        raise ConfigError(
            f"`scale` must be finite and > 0 for every state. Got {s.tolist()}; use e.g. the std "
            f"of each state over the training data."
        )
    return s


def default_scale(true: Any, *, constant: str = "raise") -> np.ndarray:
    """The default per-state normalisation: std of ``true`` over episodes and time.

    Args:
        true: (n_episodes, T, n_x) or (T, n_x) ground-truth states.
        constant: what to do with a constant state (zero std): ``"raise"`` a DataError, or
            use ``"one"`` as its scale (its plain RMSE; what training validation does).

    Returns:
        (n_x,) the population standard deviation (ddof=0) of each state.

    Raises:
        DataError: if ``true`` holds NaN/inf, or a state is constant (zero std): pass an
            explicit ``scale=`` then, e.g. the std of the training data.
    """
    t = _as_3d(_as_array(true, "true"), "true")
    _check_true_finite(t)
    s = t.reshape(-1, t.shape[-1]).std(axis=0)
    zero = np.flatnonzero(~(s > 0))
    if zero.size and constant == "one":
        return np.where(s > 0, s, 1.0)
    if constant not in ("raise", "one"):
        raise ConfigError(f"`constant` must be 'raise' or 'one'. Got {constant!r}.")
    if zero.size:
        raise DataError(
            f"State(s) {zero.tolist()} of `true` are constant (std 0), so they cannot set the "
            f"default normalisation. Pass `scale=` explicitly (shape (n_x,), all > 0), e.g. the "
            f"per-state std of the training data."
        )
    return s


# ---------------------------------------------------------------------------- error metrics
def rmse(pred: Any, true: Any, axis: int | tuple[int, ...] | None = None) -> float | np.ndarray:
    """Root-mean-square error ``sqrt(mean((pred - true)**2, axis))``.

    Args:
        pred: predicted states, any shape (typically (n_episodes, T, n_x) or (T, n_x)).
        true: ground truth, the same shape as ``pred``; must be finite.
        axis: axes to average over, as in ``numpy.mean``; ``None`` averages over everything.
            For (n_episodes, T, n_x) arrays, ``axis=(0, 1)`` gives the per-state RMSE (n_x,).

    Returns:
        A float when every axis is reduced, otherwise an array of the remaining axes.
        ``nan``/``inf`` where ``pred`` diverged.

    Raises:
        ShapeError: if the shapes differ. DataError: if ``true`` is not finite.
    """
    p, t = _pair(pred, true, three_d=False)
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.sqrt(np.mean((p - t) ** 2, axis=axis))
    return float(out) if np.ndim(out) == 0 else out


def _rmse_per_state(p: np.ndarray, t: np.ndarray) -> np.ndarray:
    """(n_x,) RMSE of each state of checked (n_episodes, T, n_x) arrays."""
    with np.errstate(over="ignore", invalid="ignore"):
        return np.sqrt(np.mean((p - t) ** 2, axis=(0, 1)))


def rmse_per_state(pred: Any, true: Any) -> np.ndarray:
    """Per-state RMSE in the data's own units, over all episodes and time steps.

    Args:
        pred: (n_episodes, T, n_x) or (T, n_x) predicted states.
        true: ground truth of the same shape; must be finite.

    Returns:
        (n_x,) ``sqrt(mean_{episodes, steps} (pred_i - true_i)**2)`` of each state ``i``;
        ``nan``/``inf`` where a rollout diverged.

    Raises:
        ShapeError: on mismatched shapes. DataError: on non-finite ``true``.
    """
    return _rmse_per_state(*_pair(pred, true))


def nrmse_per_state(pred: Any, true: Any, scale: Any = None) -> np.ndarray:
    """Per-state normalised RMSE: ``RMSE_i / scale_i`` over all episodes and time steps.

    Args:
        pred: (n_episodes, T, n_x) or (T, n_x) predicted states.
        true: ground truth of the same shape; must be finite.
        scale: (n_x,) per-state normalisation, all > 0; ``None`` for :func:`default_scale`.

    Returns:
        (n_x,) the normalised RMSE of each state (:func:`rmse_per_state` / ``scale``).

    Raises:
        ShapeError: on mismatched shapes. DataError: on non-finite ``true`` or a constant state
        with the default scale. ConfigError: on a non-positive ``scale``.
    """
    p, t = _pair(pred, true)
    s = _scale(scale, t)
    return _rmse_per_state(p, t) / s


def nrmse(pred: Any, true: Any, scale: Any = None) -> float:
    """The project's nRMSE: mean over states of (RMSE of the state / scale of the state).

    ``nrmse = (1/n_x) * sum_i sqrt(mean_{episodes, steps} (pred_i - true_i)**2) / scale_i``:
    the RMSE of each state is taken over all episodes and time steps, divided by that state's
    scale (default: its std in ``true``), and the ``n_x`` ratios are averaged.

    Args:
        pred: (n_episodes, T, n_x) or (T, n_x) predicted states.
        true: ground truth of the same shape; must be finite.
        scale: (n_x,) per-state normalisation, all > 0; ``None`` for :func:`default_scale`.

    Returns:
        The nRMSE; ``nan``/``inf`` if a rollout diverged (see :func:`count_diverged`).

    Example:
        >>> nrmse([[0.0], [2.0]], [[0.0], [0.0]], scale=[2.0])
        0.7071067811865476
    """
    return float(np.mean(nrmse_per_state(pred, true, scale)))


def nrmse_vs_horizon(pred: Any, true: Any, scale: Any = None) -> np.ndarray:
    """nRMSE at each time step: mean over states of (RMSE over episodes at that step / scale).

    Args:
        pred: (n_episodes, T, n_x) or (T, n_x) predicted states.
        true: ground truth of the same shape; must be finite.
        scale: (n_x,) per-state normalisation; ``None`` for :func:`default_scale` (computed
            over all steps, so the curve is on the same scale as :func:`nrmse`).

    Returns:
        (T,) the error at each step.
    """
    p, t = _pair(pred, true)
    s = _scale(scale, t)
    with np.errstate(over="ignore", invalid="ignore"):
        per_step_state = np.sqrt(np.mean((p - t) ** 2, axis=0))  # (T, n_x)
    return np.mean(per_step_state / s, axis=1)


def nrmse_vs_horizon_ragged(
    times: Sequence[np.ndarray],
    true: Sequence[np.ndarray],
    pred: Sequence[np.ndarray],
    scale: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`nrmse_vs_horizon` for episodes of different lengths and time grids.

    Step ``k`` pools the episodes that reach it: the RMSE of each state over them, divided by
    its scale, averaged over states. A NaN/inf prediction counts as an infinite error.

    Args:
        times: per episode, (T_e,) sample times from its start.
        true: per episode, (T_e, n_x) ground truth.
        pred: per episode, (T_e, n_x) predictions.
        scale: (n_x,) per-state normalisation, all > 0.

    Returns:
        ``(t, curve)``: (T,) the mean time of each step over the episodes that reach it, and
        (T,) the nRMSE at each step; ``T`` is the longest episode's length.
    """
    n_steps = max(len(t) for t in times)
    sq = np.zeros((n_steps, true[0].shape[1]))
    tsum = np.zeros(n_steps)
    count = np.zeros(n_steps)
    for t, y, p in zip(times, true, pred, strict=True):
        with np.errstate(all="ignore"):
            err = np.where(np.isfinite(p), p - y, np.inf)
            sq[: len(t)] += err**2
        tsum[: len(t)] += t
        count[: len(t)] += 1
    with np.errstate(all="ignore"):
        curve = np.mean(np.sqrt(sq / count[:, None]) / scale, axis=1)
    return tsum / count, curve


def valid_prediction_time(
    t: Any, pred: Any, true: Any, scale: Any = None, threshold: float = 0.1
) -> np.ndarray:
    """Valid prediction time of each episode: how long its normalised error stays <= threshold.

    The error of episode ``e`` at step ``k`` is the project's nRMSE restricted to that one
    sample, ``err[e, k] = mean_i |pred[e, k, i] - true[e, k, i]| / scale_i``. The VPT is
    ``t[k*] - t[0]`` for the first step ``k*`` with ``err > threshold`` (a NaN/inf prediction
    counts as exceeding), and the full horizon ``t[-1] - t[0]`` when the error never exceeds it.

    Args:
        t: (T,) sample times shared by all episodes, strictly increasing.
        pred: (n_episodes, T, n_x) or (T, n_x) predicted states.
        true: ground truth of the same shape; must be finite.
        scale: (n_x,) per-state normalisation; ``None`` for :func:`default_scale`.
        threshold: error level (> 0) at which a prediction stops being valid.

    Returns:
        (n_episodes,) the valid prediction times, in the units of ``t``.

    Raises:
        ShapeError: if ``t`` is not (T,) matching the arrays. ConfigError: if
        ``threshold <= 0``. DataError: if ``t`` is not strictly increasing.
    """
    p, tr = _pair(pred, true)
    times = _as_array(t, "t")
    if times.ndim != 1 or times.shape[0] != tr.shape[1]:
        raise ShapeError(
            f"`t` must have shape (T,) = ({tr.shape[1]},), the time grid shared by all "
            f"episodes. Got shape {times.shape}."
        )
    if not np.all(np.isfinite(times)) or np.any(np.diff(times) <= 0):
        raise DataError("`t` must be finite and strictly increasing; sort the time grid.")
    if not (np.isfinite(threshold) and threshold > 0):
        raise ConfigError(f"`threshold` must be a finite number > 0. Got {threshold!r}.")
    s = _scale(scale, tr)
    with np.errstate(over="ignore", invalid="ignore"):
        err = np.mean(np.abs(p - tr) / s, axis=2)  # (n_episodes, T)
    failed = ~(err <= threshold)  # NaN compares False, so NaN counts as failed
    elapsed = times - times[0]
    first = np.argmax(failed, axis=1)
    return np.where(failed.any(axis=1), elapsed[first], elapsed[-1])


def energy_drift(energy_pred: Any, energy_true: Any = None, *, scale: float | None = None) -> Any:
    """Relative energy drift of each episode over the horizon (signed).

    With ``energy_true``: ``(E_pred[-1] - E_true[-1]) / |E_true[0]|``, the energy error
    accumulated at the end of the horizon relative to the initial true energy (for a rollout
    that starts at the true state this is the excess energy gained or lost).
    Without it: ``(E_pred[-1] - E_pred[0]) / |E_pred[0]|``, the drift of a model that should
    conserve energy. Take ``np.abs`` of the result for a magnitude.

    Args:
        energy_pred: (n_episodes, T) or (T,) energy along the predicted rollouts.
        energy_true: the same shape, energy along the ground truth; must be finite.
        scale: denominator to use instead of the initial energy, e.g. when the energy's zero
            makes the initial energy 0.

    Returns:
        (n_episodes,) drifts, or a float for (T,) input. ``nan``/``inf`` where ``energy_pred``
        diverged.

    Raises:
        ShapeError: on mismatched or non-1/2-D shapes. DataError: if ``energy_true`` is not
        finite or the initial energy is 0 (pass ``scale=``).
    """
    ep = _as_array(energy_pred, "energy_pred")
    if energy_true is not None:
        ep, et = _pair(ep, energy_true, three_d=False)
    else:
        et = None
    if ep.ndim not in (1, 2) or ep.shape[-1] < 1:
        raise ShapeError(f"Energies must have shape (n_episodes, T) or (T,). Got shape {ep.shape}.")
    single = ep.ndim == 1
    ep2 = ep[None] if single else ep
    et2 = None if et is None else (et[None] if single else et)
    ref0 = (et2 if et2 is not None else ep2)[:, 0]
    if scale is not None:
        if not (np.isfinite(scale) and scale > 0):
            raise ConfigError(f"`scale` must be a finite number > 0. Got {scale!r}.")
        denom = np.full(ep2.shape[0], float(scale))
    else:
        denom = np.abs(ref0)
        if np.any(~(denom > 0)):
            bad = int(np.flatnonzero(~(denom > 0))[0])
            raise DataError(
                f"Episode {bad} has initial energy {float(ref0[bad])!r}, so a relative drift is "
                f"undefined. Pass `scale=` (e.g. the typical energy magnitude)."
            )
    end_ref = et2[:, -1] if et2 is not None else ep2[:, 0]
    with np.errstate(over="ignore", invalid="ignore"):
        out = (ep2[:, -1] - end_ref) / denom
    return float(out[0]) if single else out


# ---------------------------------------------------------------------------- divergence
#: how far (in each state's scale) a prediction may leave the data's range before it diverged
DIVERGENCE_FACTOR = 1e6


def _bounds(true: Any, scale: Any, factor: float, n_x: int) -> tuple[np.ndarray, np.ndarray]:
    """(n_x,) lowest and highest value a state may take before it counts as diverged."""
    t = _as_array(true, "true")
    if t.ndim < 2 or t.shape[-1] != n_x or t.size == 0:
        raise ShapeError(
            f"`true` must hold samples of the {n_x} states of `pred`, shape (..., {n_x}). Got "
            f"shape {t.shape}; pass the ground truth the predictions are compared with."
        )
    t = t.reshape(-1, n_x)
    _check_true_finite(t)
    s = default_scale(t, constant="one") if scale is None else _scale(scale, t[None])
    return t.min(axis=0) - factor * s, t.max(axis=0) + factor * s


def diverged_mask(
    pred: Any,
    true: Any = None,
    scale: Any = None,
    *,
    factor: float = DIVERGENCE_FACTOR,
    threshold: float | None = None,
) -> np.ndarray:
    """Which episodes diverged: a NaN/inf, or a value far outside the data's own range.

    With ``true``, state ``i`` diverged where it leaves ``[min_i - factor * scale_i, max_i +
    factor * scale_i]`` (range of state ``i`` over all of ``true``), so the verdict does not
    depend on the data's units (counts, micrometres, ...); :func:`hybridwm.evaluation.evaluate`
    (the CLI's ``rollout`` and ``evaluate``, the benchmark) passes the episodes' ground truth.
    Without ``true`` the bound is absolute: ``|value| > threshold`` (default ``factor``).

    Args:
        pred: (n_episodes, T, n_x) or (T, n_x), or a list of (T_e, n_x) episodes.
        true: reference data (..., n_x), e.g. the ground truth of every episode; finite.
        scale: (n_x,) per-state scale, > 0; default: the std of ``true`` (1 if constant).
        factor: how many scales outside the data's range a value may reach (> 0).
        threshold: an absolute bound instead of ``true``.

    Returns:
        (n_episodes,) boolean mask.

    Raises:
        ConfigError: ``factor`` or ``threshold`` <= 0, or both ``true`` and ``threshold``.
        ShapeError: ``true``'s last axis is not ``pred``'s states. DataError: ``true`` not finite.
    """
    eps = pred if isinstance(pred, (list, tuple)) and all(np.ndim(p) == 2 for p in pred) else None
    episodes = (
        [_as_array(p, "pred") for p in eps] if eps else _as_3d(_as_array(pred, "pred"), "pred")
    )
    if not (np.isfinite(factor) and factor > 0):
        raise ConfigError(f"`factor` must be a finite number > 0. Got {factor!r}.")
    if threshold is not None and not (threshold > 0):
        raise ConfigError(f"`threshold` must be > 0. Got {threshold!r}.")
    if threshold is not None and true is not None:
        raise ConfigError("Pass either `true` (relative to the data) or `threshold`, not both.")
    n_x = episodes[0].shape[-1] if len(episodes) else 0
    bound = factor if threshold is None else float(threshold)
    lo, hi = (-bound, bound) if true is None else _bounds(true, scale, factor, n_x)
    return np.array([not ((p >= lo) & (p <= hi)).all() for p in episodes], dtype=bool)


def count_diverged(pred: Any, true: Any = None, scale: Any = None, **options: Any) -> int:
    """Number of diverged episodes: ``diverged_mask(pred, true, scale, **options).sum()``
    (``options``: ``factor``, ``threshold``)."""
    return int(diverged_mask(pred, true, scale, **options).sum())


def nrmse_trajectories(pred: Any, true: Any, *, skip: int = 1) -> float:
    """nRMSE between matching episodes of two trajectory sets (``model.predict(data)``, ``data``).

    Args:
        pred: predicted episodes (a TrajectorySet or a list of Trajectory).
        true: ground-truth episodes, same count and lengths.
        skip: leading samples of each episode left out (1 drops the given initial state).

    Returns:
        :func:`nrmse` over every remaining sample of every episode, normalised by the std of
        ``true`` (a constant state is normalised by 1).
    """
    P, Y = list(pred), list(true)
    if len(P) != len(Y):
        raise ShapeError(f"pred has {len(P)} episodes but true has {len(Y)}.")
    for i, (a, b) in enumerate(zip(P, Y, strict=True)):
        if a.x.shape != b.x.shape:
            raise ShapeError(f"Episode {i}: pred has shape {a.x.shape} but true has {b.x.shape}.")
    p = np.concatenate([a.x[skip:] for a in P])
    y = np.concatenate([b.x[skip:] for b in Y])
    return nrmse(p, y, default_scale(y, constant="one"))
