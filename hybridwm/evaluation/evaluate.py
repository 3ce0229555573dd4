"""Evaluate a fitted world model against ground-truth trajectories.

Protocol (as in world-model practice): for each episode, start from its recorded first state
(models with unobserved coordinates estimate them from the first ``encoder_window``
observations), predict the whole episode open-loop under the recorded actions, and compare the
prediction with the recorded states.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hybridwm.data import TrajectorySet
from hybridwm.errors import DataError, ShapeError
from hybridwm.evaluation.metrics import (
    default_scale,
    diverged_mask,
    energy_drift,
    nrmse,
    nrmse_vs_horizon,
    valid_prediction_time,
)

__all__ = ["Evaluation", "evaluate", "predict_arrays"]


@dataclass
class Evaluation:
    """The result of :func:`evaluate`.

    Attributes:
        metrics: scalar metrics: ``nrmse`` (over all episodes, states and steps; ``inf`` if
            any episode diverged), ``nrmse_finite`` (over the episodes that did not diverge),
            ``vpt`` (mean valid prediction time in seconds), ``diverged`` (number of diverged
            episodes), ``n_episodes``, and ``energy_drift`` (mean absolute relative energy
            error at the last step) when an energy function is given.
        t: (T,) times of the error curve, relative to each episode's start.
        curve: (T,) nRMSE at each step over episodes and states.
        truth: (n, T, n_x) recorded states.
        pred: (n, T, n_x) predicted states (NaN/inf where a rollout diverged).
        state_names: names of the compared states.
    """

    metrics: dict[str, float]
    t: np.ndarray
    curve: np.ndarray
    truth: np.ndarray
    pred: np.ndarray
    state_names: tuple[str, ...]
    info: dict[str, Any] = field(default_factory=dict)


def predict_arrays(model: Any, data: TrajectorySet) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Open-loop predictions of every episode on a shared time grid, without raising on divergence.

    Args:
        model: a fitted :class:`~hybridwm.models.WorldModel`.
        data: episodes sharing one time grid (as simulated scenarios do), with the model's
            observed states and actions.

    Returns:
        ``(t, truth, pred)``: (T,) times from 0, (n, T, n_x) recorded and predicted states in
        the data's state order. Diverged rollouts hold NaN/inf; they are not an error here.
    """
    t, x, u = data.stack()
    names = tuple(getattr(model, "observed_names_", data.state_names))
    if tuple(data.state_names) != names:
        raise ShapeError(
            f"The data have states {list(data.state_names)}, but the model observes "
            f"{list(names)}. Select or rename columns so that they match."
        )
    if getattr(model, "state_names_", names) != names:
        # Latent models start from observations: WorldModel.predict runs the encoder.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pred = np.stack([tr.x for tr in model.predict(data)])
    else:
        with np.errstate(all="ignore"):
            pred = np.asarray(model.rollout(x[:, 0], u[:, :-1], t), dtype=np.float64)
    return t, x, pred


def evaluate(
    model: Any,
    data: TrajectorySet,
    *,
    scale: np.ndarray | None = None,
    vpt_threshold: float = 0.1,
    energy: Callable[[np.ndarray], np.ndarray] | None = None,
) -> Evaluation:
    """Roll ``model`` out on every episode of ``data`` and score it against the recording.

    Args:
        model: a fitted WorldModel.
        data: ground-truth episodes sharing one time grid.
        scale: (n_x,) per-state normaliser of the errors; default: the std of ``data``'s
            states over all episodes and samples (see :func:`~hybridwm.evaluation.nrmse`).
        vpt_threshold: normalised error at which a prediction stops being valid.
        energy: optional ``energy(x) -> E`` mapping (..., n_x) states to (...,) energies.

    Returns:
        An :class:`Evaluation` with scalar metrics, the error-vs-horizon curve and the arrays.
    """
    if not isinstance(data, TrajectorySet):
        raise DataError(f"`data` of evaluate must be a TrajectorySet. Got {type(data).__name__}.")
    t, truth, pred = predict_arrays(model, data)
    sc = default_scale(truth) if scale is None else np.asarray(scale, dtype=np.float64)
    bad = diverged_mask(pred)
    ok = ~bad
    metrics: dict[str, float] = {
        "n_episodes": float(len(truth)),
        "diverged": float(bad.sum()),
        "nrmse": float(nrmse(pred, truth, sc)) if not bad.any() else float("inf"),
        "nrmse_finite": float(nrmse(pred[ok], truth[ok], sc)) if ok.any() else float("inf"),
        "vpt": float(np.mean(valid_prediction_time(t, pred, truth, sc, threshold=vpt_threshold))),
    }
    if energy is not None and ok.any():
        e_true = energy(truth[ok])
        with np.errstate(all="ignore"):
            e_pred = energy(pred[ok])
        # The zero of potential energy is arbitrary: normalise by the typical energy magnitude.
        e_scale = float(max(np.mean(np.abs(e_true)), np.ptp(e_true), 1e-12))
        drift = energy_drift(e_pred, e_true, scale=e_scale)
        metrics["energy_drift"] = float(np.mean(np.abs(drift)))
    with np.errstate(all="ignore"):
        curve = nrmse_vs_horizon(np.where(np.isfinite(pred), pred, np.inf), truth, sc)
    return Evaluation(metrics, t, curve, truth, pred, tuple(data.state_names))
