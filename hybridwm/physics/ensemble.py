"""Bagged sparse regression (E-SINDy, Fasel et al. 2022): inclusion probabilities and one model.

The sparse fit is repeated on random subsets of the trajectories (or of the rows); the fraction
of the bagged models in which a term is nonzero is its *inclusion probability*. Terms included in
at least ``inclusion_threshold`` of the models make the final support, and the final coefficients
(the ones printed, simulated, used by ``predict`` and the torch vector field) are, as
``aggregate`` says:

* ``"refit"``: a least-squares refit of the support on all rows (default);
* ``"median"``: the median over the bagged models (E-SINDy's "bragging");
* ``"mean"``: the mean over the bagged models.

``coef_mean``, ``coef_std`` and ``inclusion_probability`` describe the bagged models; they are
statistics, not the simulated model (unless ``aggregate`` is ``"mean"``, where the model's
coefficients equal ``coef_mean`` on the support).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from hybridwm.errors import DiscoveryError
from hybridwm.physics.derivatives import RegressionData

__all__ = ["AGGREGATES", "bagged_fit"]

#: how the final coefficients of an ensemble are made from the bagged models
AGGREGATES = ("refit", "median", "mean")


def _subsets(
    reg: RegressionData, n_models: int, subset: float, by_trajectory: bool, seed: int
) -> list[np.ndarray]:
    """The rows of each bagged model."""
    rng = np.random.default_rng(seed)
    n_traj = int(reg.trajectory.max()) + 1 if reg.trajectory.size else 0
    out = []
    for _ in range(n_models):
        if by_trajectory:
            k = max(1, math.ceil(subset * n_traj))
            chosen = rng.choice(n_traj, size=k, replace=False)
            out.append(np.flatnonzero(np.isin(reg.trajectory, chosen)))
        else:
            k = max(1, math.ceil(subset * reg.theta.shape[0]))
            out.append(np.sort(rng.choice(reg.theta.shape[0], size=k, replace=False)))
    return out


def bagged_fit(
    fit: Callable[[np.ndarray, np.ndarray], np.ndarray],
    reg: RegressionData,
    *,
    n_models: int,
    subset: float,
    bagging: str,
    inclusion_threshold: float,
    aggregate: str,
    seed: int,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Fit ``n_models`` bagged sparse models and combine them into one.

    Args:
        fit: one sparse fit, ``(theta (N, k), dx (N, r)) -> C (r, k)``.
        reg: the regression rows.
        n_models: number of bagged models (>= 2).
        subset: fraction of trajectories (or rows) in each model, in (0, 1].
        bagging: ``"trajectories"`` (when there are at least two) or ``"rows"``.
        inclusion_threshold: the fraction of models a term must appear in to be kept.
        aggregate: one of :data:`AGGREGATES` (see the module docstring).
        seed: seed of the subsets.

    Returns:
        The final (r, k) coefficients and the ensemble statistics (``n_models``, ``bagging``,
        ``aggregate``, ``coef_mean``, ``coef_std``, ``inclusion_probability``).

    Raises:
        DiscoveryError: the combined coefficients are not finite.
    """
    n_traj = int(reg.trajectory.max()) + 1 if reg.trajectory.size else 0
    by_traj = bagging == "trajectories" and n_traj >= 2
    rows = _subsets(reg, n_models, subset, by_traj, seed)
    stack = np.stack([fit(reg.theta[r], reg.dx[r]) for r in rows])
    incl = (stack != 0).mean(axis=0)
    support = incl >= inclusion_threshold
    if aggregate == "median":
        final = np.where(support, np.median(stack, axis=0), 0.0)
    elif aggregate == "mean":
        final = np.where(support, stack.mean(axis=0), 0.0)
    else:
        final = np.zeros_like(stack[0])
        for i in range(final.shape[0]):
            cols = np.flatnonzero(support[i])
            if cols.size:
                final[i, cols] = np.linalg.lstsq(reg.theta[:, cols], reg.dx[:, i], rcond=None)[0]
    if not np.isfinite(final).all():
        raise DiscoveryError(
            "The ensemble's combined coefficients are not finite; check the library for "
            "features that are constant or duplicated on the data."
        )
    stats = {
        "n_models": n_models,
        "bagging": "trajectories" if by_traj else "rows",
        "aggregate": aggregate,
        "coef_mean": stack.mean(axis=0),
        "coef_std": stack.std(axis=0),
        "inclusion_probability": incl,
    }
    return final, stats
