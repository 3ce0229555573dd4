"""Validation: the nRMSE of open-loop rollouts over whole validation windows."""

from __future__ import annotations

import math

import numpy as np
import torch

from hybridwm.dynamics import ODEModel
from hybridwm.errors import SimulationError
from hybridwm.metrics import default_scale, nrmse
from hybridwm.training.batch import Batch

__all__ = ["evaluate_windows"]


def evaluate_windows(
    model: ODEModel,
    groups: list[Batch],
    *,
    solver: str | None = None,
    chunk: int = 4096,
) -> float:
    """Validation nRMSE of open-loop rollouts over whole windows (``inf`` if they blow up).

    Args:
        model: the model.
        groups: batches of windows (each on its own grid).
        solver: solver override.
        chunk: maximum windows integrated at once.

    Returns:
        nRMSE (see :mod:`hybridwm.metrics`) over every predicted sample after the first.
    """
    preds, trues = [], []
    with torch.no_grad():
        for b in groups:
            for s in range(0, b.x.shape[0], chunk):
                x, u = b.x[s : s + chunk], b.u[s : s + chunk]
                try:
                    p = model(x, u, b.t, solver=solver)
                except SimulationError:
                    return math.inf
                preds.append(p[:, 1:].reshape(-1, p.shape[-1]).cpu().numpy())
                trues.append(x[:, 1:].reshape(-1, x.shape[-1]).cpu().numpy())
    y = np.concatenate(trues)
    value = nrmse(np.concatenate(preds), y, default_scale(y, constant="one"))
    return value if math.isfinite(value) else math.inf
