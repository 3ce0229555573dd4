"""Evaluate a fitted world model against ground-truth trajectories: the one place where a
model's open-loop error is scored (the CLI's ``rollout`` and ``evaluate`` and the benchmark all
call :func:`evaluate`).

Protocol (as in world-model practice): for each episode, start from its recorded first state
(models with unobserved coordinates estimate them from the first ``encoder_window``
observations), predict the whole episode open-loop under the recorded actions with
:meth:`WorldModel.predict <hybridwm.models.WorldModel.predict>`, and compare the prediction
with the recorded states using the pure functions of :mod:`hybridwm.metrics`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hybridwm.data import TrajectorySet
from hybridwm.errors import DataError
from hybridwm.evaluation.detection import ChangeDetector
from hybridwm.metrics import (
    crps_ensemble,
    crps_gaussian,
    default_scale,
    diverged_mask,
    energy_drift,
    gaussian_interval,
    gaussian_nll,
    interval_coverage,
    nrmse_per_state,
    nrmse_vs_horizon_ragged,
    rmse,
    rmse_per_state,
    valid_prediction_time,
)
from hybridwm.models.ensemble import EnsemblePrediction, WorldModelEnsemble

__all__ = ["CURVE_LEVELS", "Evaluation", "evaluate", "predict_arrays"]

#: nominal levels of an ensemble's calibration curve (``Evaluation.uncertainty``)
CURVE_LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


@dataclass
class Evaluation:
    """The result of :func:`evaluate`.

    Attributes:
        metrics: scalar metrics: ``nrmse`` (over all episodes, states and steps; ``inf`` if
            any episode diverged), ``nrmse_finite`` (over the episodes that did not diverge),
            ``rmse`` (root-mean-square error in the data's units over all episodes, states and
            steps; ``inf`` if any episode diverged), ``vpt`` (mean valid prediction time in
            seconds), ``diverged`` (number of diverged episodes: NaN/inf, or further than
            :data:`~hybridwm.metrics.DIVERGENCE_FACTOR` times a state's scale outside the
            data's own range, see :func:`~hybridwm.metrics.diverged_mask`), ``n_episodes``, and
            ``energy_drift`` (mean absolute relative energy error at the last step) when an
            energy function is given.
        t: (T,) time axis of the error curve: the mean time since the episode start of each
            step (episodes may have different lengths and jittered grids).
        curve: (T,) nRMSE at each step over the episodes that reach it, and over states.
        times: per episode, (T_e,) sample times relative to its start.
        truth: per episode, (T_e, n_x) recorded states.
        pred: per episode, (T_e, n_x) predicted states (NaN/inf where a rollout diverged).
        state_names: names of the compared states.
        predictions: the predicted episodes (the data's times, actions and names;
            ``meta["prediction"]`` and ``meta["diverged"]``), ready to be written to a file.
        per_state: nRMSE of each state over the episodes that did not diverge.
        per_state_rmse: RMSE of each state in the data's units over the episodes that did not
            diverge.
        uncertainty: for an ensemble (:class:`~hybridwm.models.ensemble.WorldModelEnsemble`,
            whose other metrics are those of its members' mean prediction), its predictive
            distribution scored on the episodes that did not diverge:
            ``coverage50`` and ``coverage90`` ((T,) fraction of samples inside the central 50 %
            and 90 % intervals at each step, see :func:`~hybridwm.metrics.interval_coverage`),
            ``crps`` (Gaussian CRPS of the recalibrated spread, in scale units, mean over
            samples after the first), ``crps_members`` (the members' empirical CRPS, same
            units), ``nll`` (mean Gaussian NLL per sample), ``levels`` (:data:`CURVE_LEVELS`)
            and ``observed`` (the fraction inside each level's interval over every step after
            the first: the calibration curve); None for a single model.
        detection: with a ``detector``, per episode ``score``, ``flagged`` and the raw parts,
            plus ``threshold`` (see :class:`~hybridwm.evaluation.detection.ChangeDetector`).
    """

    metrics: dict[str, float]
    t: np.ndarray
    curve: np.ndarray
    times: list[np.ndarray]
    truth: list[np.ndarray]
    pred: list[np.ndarray]
    state_names: tuple[str, ...]
    predictions: TrajectorySet
    per_state: dict[str, float] = field(default_factory=dict)
    per_state_rmse: dict[str, float] = field(default_factory=dict)
    uncertainty: dict[str, Any] | None = None
    detection: dict[str, Any] | None = None


def _predict(
    model: Any, data: TrajectorySet, init: str | None, solver: str | None
) -> tuple[TrajectorySet, EnsemblePrediction | None]:
    """``model.predict`` keeping diverged episodes (counted by the metrics, not warned), and
    an ensemble's :class:`EnsemblePrediction` (None for a single model)."""
    extra = {"return_std": True} if isinstance(model, WorldModelEnsemble) else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = model.predict(data, on_diverge="nan", init=init, solver=solver, **extra)
    return (out.mean, out) if isinstance(out, EnsemblePrediction) else (out, None)


def _check_inputs(model: Any, data: Any, detector: ChangeDetector | None) -> None:
    if not isinstance(data, TrajectorySet):
        raise DataError(f"`data` of evaluate must be a TrajectorySet. Got {type(data).__name__}.")
    if detector is not None and not isinstance(model, WorldModelEnsemble):
        raise DataError(
            f"A `detector` scores an ensemble's predictions; `model` is a "
            f"{type(model).__name__}. Evaluate a WorldModelEnsemble, or leave `detector` out."
        )


def _coverage(m: list, s: list, y: list, level: float) -> np.ndarray:
    """(T,) coverage of the central ``level`` Gaussian intervals of ragged episodes."""
    bounds = [gaussian_interval(a, b, level) for a, b in zip(m, s, strict=True)]
    return interval_coverage([b[0] for b in bounds], [b[1] for b in bounds], y)


def _uncertainty(
    dist: EnsemblePrediction, truth: list[np.ndarray], ok: np.ndarray, sc: np.ndarray
) -> dict[str, Any]:
    """The ensemble's interval coverage vs horizon, calibration curve, CRPS and NLL on the
    kept episodes."""
    keep = [i for i, k in enumerate(ok) if k]
    y = [truth[i] for i in keep]
    m = [dist.mean[i].x for i in keep]
    s = [dist.std[i] for i in keep]
    out: dict[str, Any] = {"levels": list(CURVE_LEVELS)}
    out["observed"] = [float(np.nanmean(_coverage(m, s, y, lv)[1:])) for lv in CURVE_LEVELS]
    out["coverage50"], out["coverage90"] = (_coverage(m, s, y, lv) for lv in (0.5, 0.9))
    rows = [
        (
            crps_gaussian(a[1:], b[1:], c[1:]) / sc,
            crps_ensemble(e[:, 1:], c[1:]) / sc,
            gaussian_nll(a[1:], b[1:], c[1:]),
        )
        for a, b, c, e in zip(m, s, y, [dist.samples[i] for i in keep], strict=True)
    ]
    for j, name in enumerate(("crps", "crps_members", "nll")):
        out[name] = float(np.mean(np.concatenate([r[j].ravel() for r in rows]))) if rows else np.nan
    return out


def _arrays(
    data: TrajectorySet, predictions: TrajectorySet
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    times = [tr.t - tr.t[0] for tr in data]
    return times, [np.asarray(tr.x) for tr in data], [np.asarray(p.x) for p in predictions]


def predict_arrays(
    model: Any, data: TrajectorySet, *, init: str | None = None, solver: str | None = None
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """Open-loop predictions of every episode, without raising on divergence.

    Args:
        model: a fitted :class:`~hybridwm.models.WorldModel`.
        data: episodes with the model's observed states and actions (any lengths and time
            grids; episodes sharing a grid are rolled out in one batch).
        init: how a model with unmeasured states estimates their initial values
            (``"encoder"`` or ``"optimize"``; default: the model's own setting).
        solver: solver override (default: the model's).

    Returns:
        ``(times, truth, pred)``: per episode, (T_e,) times from its start and (T_e, n_x)
        recorded and predicted states in the data's state order. Diverged rollouts hold
        NaN/inf; they are not an error here.

    Raises:
        ShapeError: the data's state or action names differ from the model's.
    """
    return _arrays(data, _predict(model, data, init, solver)[0])


def _pooled(arrays: list[np.ndarray], keep: np.ndarray) -> np.ndarray:
    """(sum of T_e, n_x): the kept episodes' samples, one after the other."""
    return np.concatenate([a for a, k in zip(arrays, keep, strict=True) if k])


def _energy_drift(
    energy: Callable[[np.ndarray], np.ndarray],
    truth: list[np.ndarray],
    pred: list[np.ndarray],
    ok: np.ndarray,
) -> float:
    """Mean absolute relative energy drift of the episodes that did not diverge."""
    # The zero of potential energy is arbitrary: normalise by the typical magnitude.
    e_scale = float(max(np.mean(np.abs(energy(np.concatenate(truth)))), 1e-12))
    drifts = []
    for y, p, m in zip(truth, pred, ok, strict=True):
        if m:
            with np.errstate(all="ignore"):
                drifts.append(energy_drift(energy(p), energy(y), scale=e_scale))
    return float(np.mean(np.abs(drifts)))


def _by_name(names: tuple[str, ...], values: np.ndarray) -> dict[str, float]:
    """Map (n_x,) per-state ``values`` to ``{state name: value}``."""
    return {n: float(v) for n, v in zip(names, values, strict=True)}


def evaluate(
    model: Any,
    data: TrajectorySet,
    *,
    scale: np.ndarray | None = None,
    vpt_threshold: float = 0.1,
    energy: Callable[[np.ndarray], np.ndarray] | None = None,
    init: str | None = None,
    solver: str | None = None,
    detector: ChangeDetector | None = None,
) -> Evaluation:
    """Roll ``model`` out on every episode of ``data`` and score it against the recording.

    Args:
        model: a fitted WorldModel.
        data: ground-truth episodes (any lengths and time grids).
        scale: (n_x,) per-state normaliser of the errors; default: the std of ``data``'s
            states over all episodes and samples (see :func:`~hybridwm.evaluation.nrmse`).
        vpt_threshold: normalised error at which a prediction stops being valid.
        energy: optional ``energy(x) -> E`` mapping (..., n_x) states to (...,) energies.
        init: initial-state estimation of models with unmeasured states (``"encoder"`` or
            ``"optimize"``; default: the model's own setting).
        solver: solver override (default: the model's).
        detector: a ChangeDetector of ``model`` (an ensemble) to score every episode with.

    Returns:
        An :class:`Evaluation` with scalar metrics, per-state errors, the error-vs-horizon
        curve, the arrays and the predicted episodes (an ensemble's: see ``uncertainty``).

    Raises:
        DataError: ``data`` is not a TrajectorySet, or a state of it is constant (pass
            ``scale=``), or a detector for a single model. ShapeError: names differ.
    """
    _check_inputs(model, data, detector)
    predictions, dist = _predict(model, data, init, solver)
    times, truth, pred = _arrays(data, predictions)
    sc = default_scale(np.concatenate(truth)) if scale is None else np.asarray(scale, np.float64)
    bad = diverged_mask(pred, np.concatenate(truth), sc)
    ok = ~bad
    if ok.any():
        p_ok, y_ok = _pooled(pred, ok), _pooled(truth, ok)
        per_state, per_rmse = nrmse_per_state(p_ok, y_ok, sc), rmse_per_state(p_ok, y_ok)
    else:
        per_state = per_rmse = np.full(len(sc), np.inf)
    vpts = [
        float(np.ravel(valid_prediction_time(t, p, y, sc, threshold=vpt_threshold))[0])
        for t, y, p in zip(times, truth, pred, strict=True)
    ]
    metrics: dict[str, float] = {
        "n_episodes": float(len(truth)),
        "diverged": float(bad.sum()),
        "nrmse": float(np.mean(per_state)) if not bad.any() else float("inf"),
        "nrmse_finite": float(np.mean(per_state)),
        "vpt": float(np.mean(vpts)),
    }
    if energy is not None and ok.any():
        metrics["energy_drift"] = _energy_drift(energy, truth, pred, ok)
    metrics["rmse"] = float(rmse(p_ok, y_ok)) if not bad.any() else float("inf")
    t_axis, curve = nrmse_vs_horizon_ragged(times, truth, pred, sc)
    names = tuple(data.state_names)
    by_name = (_by_name(names, per_state), _by_name(names, per_rmse))
    result = Evaluation(metrics, t_axis, curve, times, truth, pred, names, predictions, *by_name)
    if dist is not None:
        result.uncertainty = _uncertainty(dist, truth, ok, sc)
    if detector is not None:
        result.detection = detector.score(model, data)
    return result
