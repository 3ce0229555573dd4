"""The official score of nonlinearbenchmark.org, on predictions: free-run simulation, the first
``n_init`` outputs only for the initial state, RMSE over the rest in the benchmark's unit.

This module works on arrays and trajectories only (it stands on data); scoring a fitted model is
:func:`hybridwm.evaluation.official_score.score`, which predicts and then calls these.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from hybridwm.data import Trajectory, TrajectorySet
from hybridwm.datasets.dataset import MeasuredDataset
from hybridwm.errors import ConfigError, ShapeError

__all__ = ["official_rmse", "score_predictions", "window_only"]


def official_rmse(
    measured: np.ndarray, predicted: np.ndarray, n_init: int, scale: float = 1.0
) -> float:
    """``sqrt(mean((y[n:] - y_model[n:])**2)) * scale`` (``nonlinear_benchmarks`` ``RMSE``).

    Args:
        measured: (T,) or (T, n_y) measured outputs.
        predicted: the simulated outputs, same shape.
        n_init: samples at the start that are not scored (0 <= n_init < T).
        scale: factor to the score unit (1000: V -> mV, m -> mm).

    Returns:
        The RMSE over every scored sample and output; ``inf`` if the prediction is not finite
        there (a diverged simulation).

    Raises:
        ShapeError: the shapes differ.
        ConfigError: ``n_init`` is not an integer in ``[0, T)``.
    """
    y = np.asarray(measured, dtype=np.float64)
    yhat = np.asarray(predicted, dtype=np.float64)
    if y.shape != yhat.shape or y.ndim not in (1, 2):
        raise ShapeError(
            f"`predicted` must have the shape of `measured`, (T,) or (T, n_y) = {y.shape}; "
            f"got {yhat.shape}."
        )
    if isinstance(n_init, bool) or not isinstance(n_init, (int, np.integer)):
        raise ConfigError(f"`n_init` must be an integer. Got {n_init!r}.")
    if not 0 <= n_init < y.shape[0]:
        raise ConfigError(
            f"`n_init` must lie in [0, {y.shape[0]}) for {y.shape[0]} samples. Got {n_init}."
        )
    err = y[n_init:] - yhat[n_init:]
    if not np.isfinite(err).all():
        return float("inf")
    return float(np.sqrt(np.mean(err**2)) * scale)


def window_only(data: TrajectorySet, n_init: int) -> TrajectorySet:
    """``data`` as a predictor may see it: the whole input, and the outputs of the first
    ``n_init`` samples only (each later output is replaced by the last one of the window), so a
    model scored on it cannot use a measurement it is scored on.

    Args:
        data: the test episodes (each longer than ``n_init``).
        n_init: the initialisation window (>= 1).

    Raises:
        ConfigError: ``n_init`` is not an integer in ``[1, T)`` for every episode.
    """
    shortest = int(min(data.lengths))
    if (
        isinstance(n_init, bool)
        or not isinstance(n_init, (int, np.integer))
        or not 1 <= n_init < shortest
    ):
        raise ConfigError(
            f"`n_init` must be an integer in [1, {shortest}) for these episodes. Got {n_init!r}."
        )
    out = []
    for tr in data:
        x = tr.x.copy()
        x[n_init:] = x[n_init - 1]
        out.append(tr.replace(x=x, meta={**tr.meta, "outputs_hidden_after": int(n_init)}))
    return TrajectorySet(out)


def score_predictions(
    dataset: MeasuredDataset, predictions: Mapping[str, TrajectorySet | Trajectory | np.ndarray]
) -> dict[str, float]:
    """The official score of predicted test outputs.

    Args:
        dataset: the benchmark.
        predictions: ``{test split: predicted outputs}``, each a TrajectorySet/Trajectory with
            the split's single episode, or a (T,) / (T, n_y) array.

    Returns:
        ``{split: RMSE in dataset.score_unit}`` in the order of ``predictions``.

    Raises:
        UnknownNameError: a key is not a split of the dataset.
        ShapeError: a prediction has another length than its split.
    """
    scores = {}
    for name, pred in predictions.items():
        measured = dataset.split(name)[0].x
        if isinstance(pred, TrajectorySet):
            pred = pred[0]
        values = pred.x if isinstance(pred, Trajectory) else np.asarray(pred, dtype=np.float64)
        values = values.reshape(measured.shape) if values.size == measured.size else values
        scores[name] = official_rmse(measured, values, dataset.n_init, dataset.score_scale)
    return scores
