"""Fitting the free parameters of declared equations to data, by least squares on derivatives.

The residuals are ``aligned RHS(x, u; p) - D[x]`` for every state of the equations that the data
has: the right-hand side is split into the part evaluated at the samples and the part aligned
with the held actions (see :mod:`hybridwm.physics.derivatives`), so the fit sees the same
regressors as :func:`~hybridwm.physics.discover`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
from scipy.optimize import least_squares

from hybridwm.data import TrajectorySet
from hybridwm.errors import ConfigError, DataError, UnknownNameError
from hybridwm.physics.derivatives import make_differentiation, regression_data, resolve_align
from hybridwm.physics.equations import Equations
from hybridwm.physics.expressions import compile_expressions
from hybridwm.physics.parameter import Parameter

__all__ = ["fit_parameters"]

E = TypeVar("E", bound=Equations)


def _free_parameters(model: Equations) -> list[Parameter]:
    free = [p for p in model.parameters.values() if not p.fixed]
    if not free:
        raise ConfigError(
            "This model has no free parameters to fit; declare some with parameters={...}."
        )
    return free


def _observed_states(model: Equations, data: TrajectorySet) -> list[str]:
    """The model's states that ``data`` has, after checking that their equations can be fitted:
    the data has every action, and no observed state's equation uses a latent state."""
    missing_actions = [a for a in model.action_names if a not in data.action_names]
    if missing_actions:
        raise UnknownNameError(
            f"The data lacks actions {missing_actions}. Data actions: {list(data.action_names)}."
        )
    observed = [s for s in model.state_names if s in data.state_names]
    if not observed:
        raise UnknownNameError(
            f"None of the model's states {list(model.state_names)} is in the data "
            f"({list(data.state_names)})."
        )
    latent = [s for s in model.state_names if s not in data.state_names]
    needed: set[str] = set()
    mask = model.mask
    for i in (model.state_names.index(s) for s in observed):
        for j in np.flatnonzero(mask[i]):
            needed |= {str(s) for s in model.library.exprs[j].free_symbols}
    used_latent = sorted(needed & set(latent))
    if used_latent:
        raise DataError(
            f"The equations of observed states use latent state(s) {used_latent} that the data "
            f"lacks; their derivatives cannot be fitted from data alone."
        )
    return observed


def _split_rhs(
    model: Equations, data: TrajectorySet, obs_idx: list[int], cols: np.ndarray
) -> Callable[[np.ndarray], Callable[[np.ndarray, np.ndarray], np.ndarray]]:
    """``rhs_fn(p)``: the regressors of the observed rows at parameters ``p`` (n_p,), as a
    function of the data's ``x`` (N, n_x_data) and ``u`` (N, n_u_data) returning (N, 2 n_obs):
    the part of each right-hand side evaluated at the samples, then the part to align
    (features with ``cols`` True)."""
    lib = model.library
    xcols = [data.state_names.index(s) if s in data.state_names else -1 for s in model.state_names]
    ucols = [data.action_names.index(a) for a in model.action_names]
    exprs = model.coef_expressions
    coef_fn = compile_expressions(
        [e for r in exprs for e in r], (model.parameter_names,), backend="numpy"
    )

    def full_x(x: np.ndarray) -> np.ndarray:
        out = np.zeros((*x.shape[:-1], model.n_x))
        for i, c in enumerate(xcols):
            if c >= 0:
                out[..., i] = x[..., c]
        return out

    def rhs_fn(p: np.ndarray) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        C = np.asarray(coef_fn(p)).reshape(model.n_x, lib.n_features)[obs_idx]

        def fn(x: np.ndarray, u: np.ndarray) -> np.ndarray:
            th = lib.evaluate(full_x(x), u[:, ucols], p)
            return np.hstack([th[:, ~cols] @ C[:, ~cols].T, th[:, cols] @ C[:, cols].T])

        return fn

    return rhs_fn


def fit_parameters(
    model: E,
    data: TrajectorySet,
    *,
    differentiation: Any = "finite_difference",
    align: str | bool = "actions",
    window: int = 11,
    loss: str = "linear",
) -> E:
    """Fit a declared model's free parameters to data by least squares on derivatives.

    Residuals are ``aligned RHS(x, u; p) - D[x]`` for every state of the model that the data
    has (latent states are skipped; their equations cannot be checked). Bounds are passed to
    ``scipy.optimize.least_squares``.

    Args:
        model: a declared PhysicsModel (with parameters).
        data: trajectories holding the model's actions and the states to fit.
        differentiation: derivative estimator (name or pysindy object).
        align: regressor alignment with held actions (see ``derivatives``).
        window: Savitzky-Golay window for smoothed differentiation.
        loss: ``least_squares`` loss (``"linear"``, ``"soft_l1"``, ``"huber"``, ...).

    Returns:
        A copy of ``model`` with fitted parameter values; ``info["fit"]`` records the cost.

    Raises:
        ConfigError: the model has no free parameters.
        DataError: an observed state's equation depends on a state the data lacks.
    """
    free = _free_parameters(model)
    observed = _observed_states(model, data)
    obs_idx = [model.state_names.index(s) for s in observed]
    method = make_differentiation(differentiation, window=window)
    mode = resolve_align(align)
    lib = model.library
    cols = lib.uses_actions if mode == "actions" else np.full(lib.n_features, mode == "all")
    rhs_fn = _split_rhs(model, data, obs_idx, cols)
    names = list(model.parameters)
    free_idx = [names.index(p.name) for p in free]
    p0 = model.parameter_array()
    state_cols = [data.state_names.index(s) for s in observed]
    n_obs = len(obs_idx)
    align_rhs = np.r_[np.zeros(n_obs, bool), np.ones(n_obs, bool)]

    def residuals(q: np.ndarray) -> np.ndarray:
        p = p0.copy()
        p[free_idx] = q
        reg = regression_data(data, rhs_fn(p), method, align_rhs, state_columns=state_cols)
        pred = reg.theta[:, :n_obs] + reg.theta[:, n_obs:]
        scale = reg.dx.std(axis=0)
        return ((pred - reg.dx) / np.where(scale > 0, scale, 1.0)).ravel()

    lo = np.array([p.bounds_tuple()[0] for p in free])
    hi = np.array([p.bounds_tuple()[1] for p in free])
    q0 = np.clip(p0[free_idx], np.nextafter(lo, np.inf), np.nextafter(hi, -np.inf))
    res = least_squares(residuals, q0, bounds=(lo, hi), loss=loss)
    fitted = model.with_parameters(**{p.name: float(v) for p, v in zip(free, res.x, strict=False)})
    fitted.info = dict(model.info)
    fitted.info["fit"] = {
        "cost": float(res.cost),
        "success": bool(res.success),
        "n_evaluations": int(res.nfev),
        "states_fitted": observed,
        "align": mode,
    }
    return fitted
