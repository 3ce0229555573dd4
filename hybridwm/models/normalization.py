"""Normalization: the statistics of the training data written into a model's buffers."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from hybridwm.data import TrajectorySet
from hybridwm.dynamics import ODEModel

__all__ = ["extend_gate", "fit_gate", "fit_normalizer"]


def _floor(std: np.ndarray) -> np.ndarray:
    """Spreads of (near-)constant columns become 1, so nothing divides by zero."""
    return np.where(std > 1e-12, std, 1.0)


def fit_normalizer(model: ODEModel, data: TrajectorySet) -> None:
    """Set the normalizer of ``model.dynamics`` (and the encoder's and observation scales)
    from ``data``.

    The directly measured states get the mean, std, min and max of their columns and the std
    of their finite-difference rates (``dx_scale``); unmeasured states keep the identity. The
    actions get their mean, std, min and max. An encoder gets the mean and std of the
    observations and their rates; a model with observation equations the std of each measured
    column (``obs_std``, for its rollout loss).

    Args:
        model: the untrained model.
        data: the training episodes (its measured columns are ``model.observed_names``).
    """
    x = np.concatenate([tr.x for tr in data])
    u = np.concatenate([tr.u for tr in data])
    rates = np.concatenate(
        [np.diff(tr.x, axis=0) / np.diff(tr.t)[:, None] for tr in data if len(tr) > 1]
    )
    norm = model.dynamics.normalizer
    observed = list(model.observed_names)
    idx = [model.dynamics.state_names.index(n) for n in model.direct_names]
    cols = [observed.index(n) for n in model.direct_names]
    values: dict[str, Any] = {
        k: getattr(norm, k).detach().cpu().numpy().copy()
        for k in ("x_mean", "x_std", "x_min", "x_max", "dx_scale")
    }
    values["x_mean"][idx] = x[:, cols].mean(0)
    values["x_std"][idx] = x[:, cols].std(0)
    values["x_min"][idx] = x[:, cols].min(0)
    values["x_max"][idx] = x[:, cols].max(0)
    values["dx_scale"][idx] = rates[:, cols].std(0)
    if u.shape[1]:
        values.update(u_mean=u.mean(0), u_std=u.std(0), u_min=u.min(0), u_max=u.max(0))
    norm.set(**values)
    if model.equation_names:
        model.obs_std.copy_(torch.as_tensor(_floor(x.std(0)), dtype=model.obs_std.dtype))
    if model.encoder is not None:
        model.encoder.set_scales(
            obs_mean=x.mean(0),
            obs_std=_floor(x.std(0)),
            rate_scale=_floor(rates.std(0)),
            u_mean=norm.u_mean,
            u_std=norm.u_std,
        )


def _residual_inputs(model: ODEModel, data: TrajectorySet) -> torch.Tensor:
    """(m, n_embed + n_u) every sample of ``data`` as the residual sees it (unmeasured states
    at 0: a gate does not measure them)."""
    dyn = model.dynamics
    norm = dyn.normalizer
    observed = list(model.observed_names)
    idx = [dyn.state_names.index(n) for n in model.direct_names]
    cols = [observed.index(n) for n in model.direct_names]
    x = np.concatenate([tr.x for tr in data])
    u = np.concatenate([tr.u for tr in data])
    full = torch.zeros(len(x), len(dyn.state_names), dtype=norm.x_mean.dtype)
    full[:, idx] = torch.as_tensor(x[:, cols], dtype=full.dtype)
    dev = norm.x_mean.device
    return dyn.residual_inputs(full.to(dev), torch.as_tensor(u, dtype=full.dtype, device=dev))


def fit_gate(model: ODEModel, data: TrajectorySet, validation: TrajectorySet | None) -> None:
    """Fit a hybrid's support gate (nothing without one): anchors among the samples of
    ``data``, and a cover that reaches every sample of ``data`` and of ``validation``, so
    held-out episodes of the training distribution keep the residual too.

    Args:
        model: the model, its normalizer fitted (:func:`fit_normalizer`).
        data: the training episodes.
        validation: held-out episodes of the same distribution, or None.
    """
    gate = getattr(model.dynamics, "gate", None)
    if gate is None:
        return
    held = None if validation is None else _residual_inputs(model, validation)
    gate.fit(_residual_inputs(model, data), held)


def extend_gate(model: ODEModel, data: TrajectorySet) -> None:
    """Widen a hybrid's support gate to the samples of ``data`` (nothing without a gate):
    ``WorldModel.adapt`` trains the residual on a new record, so the residual must act there."""
    gate = getattr(model.dynamics, "gate", None)
    if gate is not None:
        gate.extend(_residual_inputs(model, data))
