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
from hybridwm.metrics import (
    default_scale,
    diverged_mask,
    energy_drift,
    nrmse_per_state,
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
        t: (T,) time axis of the error curve: the mean time since the episode start of each
            step (episodes may have different lengths and jittered grids).
        curve: (T,) nRMSE at each step over the episodes that reach it, and over states.
        times: per episode, (T_e,) sample times relative to its start.
        truth: per episode, (T_e, n_x) recorded states.
        pred: per episode, (T_e, n_x) predicted states (NaN/inf where a rollout diverged).
        state_names: names of the compared states.
        per_state: nRMSE of each state over the episodes that did not diverge.
    """

    metrics: dict[str, float]
    t: np.ndarray
    curve: np.ndarray
    times: list[np.ndarray]
    truth: list[np.ndarray]
    pred: list[np.ndarray]
    state_names: tuple[str, ...]
    per_state: dict[str, float] = field(default_factory=dict)


def predict_arrays(
    model: Any, data: TrajectorySet, *, init: str | None = None
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """Open-loop predictions of every episode, without raising on divergence.

    Episodes that share a time grid (up to an offset) are rolled out together in one batch;
    episodes may have different lengths and non-uniform grids.

    Args:
        model: a fitted :class:`~hybridwm.models.WorldModel`.
        data: episodes with the model's observed states and actions.
        init: how a model with unmeasured states estimates their initial values
            (``"encoder"`` or ``"optimize"``; default: the model's own setting).

    Returns:
        ``(times, truth, pred)``: per episode, (T_e,) times from its start and (T_e, n_x)
        recorded and predicted states in the data's state order. Diverged rollouts hold
        NaN/inf; they are not an error here.
    """
    names = tuple(getattr(model, "observed_names_", data.state_names))
    if tuple(data.state_names) != names:
        raise ShapeError(
            f"The data have states {list(data.state_names)}, but the model observes "
            f"{list(names)}. Select or rename columns so that they match."
        )
    times = [tr.t - tr.t[0] for tr in data]
    truth = [np.asarray(tr.x) for tr in data]
    if getattr(model, "state_names_", names) != names:
        # Latent models start from observations: WorldModel.predict runs the encoder.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            kwargs = {} if init is None else {"init": init}
            pred = [np.asarray(tr.x) for tr in model.predict(data, on_diverge="nan", **kwargs)]
        return times, truth, pred
    groups: dict[bytes, list[int]] = {}
    for i, t in enumerate(times):
        groups.setdefault(np.round(t, 9).tobytes(), []).append(i)
    pred_list: list[np.ndarray | None] = [None] * len(data)
    for idx in groups.values():
        x0 = np.stack([data[i].x[0] for i in idx])
        us = np.stack([data[i].u[:-1] for i in idx])
        with np.errstate(all="ignore"):
            p = np.asarray(model.rollout(x0, us, times[idx[0]]), dtype=np.float64)
        for j, i in enumerate(idx):
            pred_list[i] = p[j]
    return times, truth, [p for p in pred_list if p is not None]


def _ragged_curve(
    times: list[np.ndarray], truth: list[np.ndarray], pred: list[np.ndarray], scale: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-step nRMSE over the episodes that reach each step (see :func:`nrmse_vs_horizon`)."""
    n_steps = max(len(t) for t in times)
    sq = np.zeros((n_steps, truth[0].shape[1]))
    tsum = np.zeros(n_steps)
    count = np.zeros(n_steps)
    for t, y, p in zip(times, truth, pred, strict=True):
        with np.errstate(all="ignore"):
            err = np.where(np.isfinite(p), p - y, np.inf)
            sq[: len(t)] += err**2
        tsum[: len(t)] += t
        count[: len(t)] += 1
    with np.errstate(all="ignore"):
        curve = np.mean(np.sqrt(sq / count[:, None]) / scale, axis=1)
    return tsum / count, curve


def evaluate(
    model: Any,
    data: TrajectorySet,
    *,
    scale: np.ndarray | None = None,
    vpt_threshold: float = 0.1,
    energy: Callable[[np.ndarray], np.ndarray] | None = None,
    init: str | None = None,
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

    Returns:
        An :class:`Evaluation` with scalar metrics, the error-vs-horizon curve and the arrays.
    """
    if not isinstance(data, TrajectorySet):
        raise DataError(f"`data` of evaluate must be a TrajectorySet. Got {type(data).__name__}.")
    times, truth, pred = predict_arrays(model, data, init=init)
    all_truth = np.concatenate(truth)
    sc = default_scale(all_truth) if scale is None else np.asarray(scale, dtype=np.float64)
    bad = np.array([bool(diverged_mask(p[None])[0]) for p in pred])
    ok = ~bad

    def pooled(mask: np.ndarray) -> np.ndarray:
        if not mask.any():
            return np.full(len(sc), np.inf)
        p = np.concatenate([q for q, m in zip(pred, mask, strict=True) if m])
        y = np.concatenate([q for q, m in zip(truth, mask, strict=True) if m])
        return nrmse_per_state(p, y, sc)

    per_state = pooled(ok)

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
        drifts = []
        e_scale = float(max(np.mean(np.abs(energy(all_truth))), 1e-12))
        for y, p, m in zip(truth, pred, ok, strict=True):
            if not m:
                continue
            # The zero of potential energy is arbitrary: normalise by the typical magnitude.
            with np.errstate(all="ignore"):
                drifts.append(energy_drift(energy(p), energy(y), scale=e_scale))
        metrics["energy_drift"] = float(np.mean(np.abs(drifts)))
    t_axis, curve = _ragged_curve(times, truth, pred, sc)
    names = tuple(data.state_names)
    per = {n: float(v) for n, v in zip(names, per_state, strict=True)}
    return Evaluation(metrics, t_axis, curve, times, truth, pred, names, per)
