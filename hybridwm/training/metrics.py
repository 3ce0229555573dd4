"""Accuracy metrics of open-loop predictions (pure functions, numpy or torch).

The headline metric of hybridwm is the **normalized RMSE** (nRMSE)::

    nRMSE = mean over states j of  sqrt(mean over samples of (pred_j - true_j)²) / std(true_j)

where the mean and the std run over every sample (all episodes and time steps) of the
evaluation set and ``std`` is the population standard deviation of the ground truth of state j.
A state whose ground truth is constant (std = 0) is divided by 1 instead (its plain RMSE).
0 is perfect; 1 is the error of predicting the mean.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

from hybridwm.data.trajectory import Trajectory, TrajectorySet
from hybridwm.errors import ShapeError

__all__ = ["nrmse", "nrmse_per_state", "nrmse_trajectories"]


def _flat(a: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 0:
        raise ShapeError("nRMSE needs arrays of shape (..., n_x); got a scalar.")
    return a.reshape(-1, a.shape[-1]) if a.ndim > 1 else a[:, None]


def nrmse_per_state(
    pred: np.ndarray | torch.Tensor,
    true: np.ndarray | torch.Tensor,
    std: np.ndarray | None = None,
) -> np.ndarray:
    """Per-state normalized RMSE.

    Args:
        pred: (..., n_x) predictions.
        true: (..., n_x) ground truth, same shape.
        std: (n_x,) normalizing spreads; default: the std of ``true`` over all samples.

    Returns:
        (n_x,) RMSE_j / std_j (non-finite predictions give ``inf``).
    """
    p, y = _flat(pred), _flat(true)
    if p.shape != y.shape:
        raise ShapeError(
            f"pred and true must have the same shape; got {tuple(np.shape(pred))} and "
            f"{tuple(np.shape(true))}."
        )
    s = y.std(axis=0) if std is None else np.asarray(std, dtype=np.float64)
    s = np.where(np.isfinite(s) & (s > 0), s, 1.0)
    with np.errstate(over="ignore", invalid="ignore"):
        rmse = np.sqrt(np.mean((p - y) ** 2, axis=0))
    return np.where(np.isfinite(rmse), rmse, np.inf) / s


def nrmse(
    pred: np.ndarray | torch.Tensor,
    true: np.ndarray | torch.Tensor,
    std: np.ndarray | None = None,
) -> float:
    """nRMSE averaged over states (see the module docstring).

    Args:
        pred: (..., n_x) predictions.
        true: (..., n_x) ground truth.
        std: (n_x,) optional normalizing spreads (default: std of ``true``).

    Returns:
        The mean over states of RMSE_j / std_j.
    """
    return float(np.mean(nrmse_per_state(pred, true, std)))


def nrmse_trajectories(
    pred: TrajectorySet | Iterable[Trajectory],
    true: TrajectorySet | Iterable[Trajectory],
    *,
    skip: int = 1,
) -> float:
    """nRMSE between matching episodes of two sets (e.g. ``model.predict(data)`` and ``data``).

    Args:
        pred: predicted episodes.
        true: ground-truth episodes, same count and lengths.
        skip: leading samples of each episode left out (1 drops the given initial state).

    Returns:
        nRMSE over every remaining sample of every episode, normalized by the std of ``true``.
    """
    P, Y = list(pred), list(true)
    if len(P) != len(Y):
        raise ShapeError(f"pred has {len(P)} episodes but true has {len(Y)}.")
    for i, (a, b) in enumerate(zip(P, Y, strict=False)):
        if a.x.shape != b.x.shape:
            raise ShapeError(f"Episode {i}: pred has shape {a.x.shape} but true has {b.x.shape}.")
    p = np.concatenate([a.x[skip:] for a in P])
    y = np.concatenate([b.x[skip:] for b in Y])
    return nrmse(p, y)
