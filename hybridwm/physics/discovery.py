"""SINDy discovery: ``discover(data, ...) -> PhysicsModel``, with pysindy's sparse optimizers.

The feature matrix is built here (from the library's sympy expressions), the state derivatives
are estimated per trajectory with pysindy's differentiation, the action-carrying regressors are
aligned with the held actions (see :mod:`hybridwm.physics.derivatives`), and the stacked
``(Theta, dX)`` goes to a pysindy optimizer (STLSQ, SR3, ...) for the sparse regression, once or
bagged over random subsets (``ensemble``), with a shared denominator on the rational rows when
``denominator`` is set (:mod:`hybridwm.physics.rational`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from hybridwm.data import TrajectorySet
from hybridwm.errors import ConfigError, DataError, DiscoveryError
from hybridwm.physics.angles import recorded_angles
from hybridwm.physics.config import DiscoverConfig
from hybridwm.physics.derivatives import (
    RegressionData,
    make_differentiation,
    regression_data,
    resolve_align,
)
from hybridwm.physics.features import FeatureLibrary, make_library
from hybridwm.physics.model import PhysicsModel
from hybridwm.physics.rational import fit_rational
from hybridwm.physics.sparse_regression import fit_sparse, make_optimizer, unfitted_copy

__all__ = ["discover"]


def discover(
    data: TrajectorySet,
    library: str | FeatureLibrary | Sequence[str] | None = None,
    optimizer: Any = None,
    differentiation: Any = None,
    ensemble: int | None = None,
    config: DiscoverConfig | None = None,
    *,
    align: str | bool | None = None,
    threshold: float | None = None,
) -> PhysicsModel:
    """Discover sparse equations dx/dt = Theta(x, u) @ C.T from trajectories.

    With ``config.denominator`` set, the rows named in ``config.rational`` (default: all but
    the kinematic ``dq/dt = v`` rows) become ``(Theta(x, u) / D(z)) @ C.T`` with a denominator
    ``D(z) = 1 + d_1 z + ...`` estimated from the data first (:mod:`hybridwm.physics.rational`);
    ``info["rational"]`` records ``D``.

    Args:
        data: trajectories (any lengths and time grids); actions are held on each interval.
        library: a library name (options from ``config``), a :class:`FeatureLibrary`, or a
            list of feature expressions. Default ``config.library``.
        optimizer: a name (``"stlsq"``, ``"sr3"``, options from ``config``) or a pysindy
            optimizer object. Default ``config.optimizer``.
        differentiation: a name (``"finite_difference"``, ``"smoothed_finite_difference"``)
            or a linear pysindy differentiation object. Default ``config.differentiation``.
        ensemble: number of bagged models (overrides ``config.ensemble``).
        config: all settings; arguments given explicitly override its fields.
        align: override ``config.align`` (``True`` means ``"actions"``, ``False`` ``"none"``).
        threshold: override ``config.threshold``.

    Returns:
        The discovered PhysicsModel; ``info`` records the settings, ``ensemble`` the bagging
        statistics when ``ensemble > 1``.

    Raises:
        UnknownNameError: the library uses names the data lacks (the message lists them).
        DiscoveryError: a feature is NaN/inf on the data (names the feature and row).
        DataError: a trajectory is too short to differentiate.
        ConfigError: ``denominator`` does not depend on any state.
    """
    if not isinstance(data, TrajectorySet):
        raise DataError(f"`data` must be a TrajectorySet. Got {type(data).__name__}.")
    cfg = _settings(
        config or DiscoverConfig(),
        ensemble=ensemble,
        align=align,
        threshold=threshold,
        optimizer=optimizer,
        differentiation=differentiation,
    )
    lib = _resolve_library(library, data, cfg)
    opt = make_optimizer(
        optimizer if optimizer is not None and not isinstance(optimizer, str) else cfg.optimizer,
        threshold=cfg.threshold,
        alpha=cfg.alpha,
        max_iter=cfg.max_iter,
        normalize_columns=cfg.normalize_columns,
    )
    diff_obj = (
        differentiation
        if differentiation is not None and not isinstance(differentiation, str)
        else cfg.differentiation
    )
    method = make_differentiation(
        diff_obj, order=cfg.order, window=cfg.window, polyorder=cfg.polyorder
    )
    reg = _regression_data(data, lib, method, cfg.align)
    exprs, coef, ens_stats, rational_info = _fit(data, lib, reg, method, opt, cfg)
    _warn_if_all_zero(coef, reg, cfg.threshold)
    info = _info(cfg, lib, opt, optimizer, diff_obj, len(data), reg)
    if rational_info is not None:
        info["rational"] = rational_info
    return PhysicsModel(
        data.state_names, data.action_names, exprs, coef, ensemble=ens_stats, info=info
    )


def _fit(
    data: TrajectorySet,
    lib: FeatureLibrary,
    reg: RegressionData,
    method: Any,
    opt: Any,
    cfg: DiscoverConfig,
) -> tuple[list[Any], np.ndarray, dict[str, Any] | None, dict[str, Any] | None]:
    """The sparse regression, with a shared denominator when ``cfg.denominator`` is set: the
    features used, the coefficients, the ensemble statistics (or None) and ``info["rational"]``
    (None without a denominator)."""
    if cfg.denominator is None:
        coef, ens_stats = _regress(opt, reg, cfg)
        return list(lib.exprs), coef, ens_stats, None
    return fit_rational(
        data,
        lib,
        reg,
        method,
        cfg.align,
        denominator=cfg.denominator,
        degree=cfg.denominator_degree,
        rational=cfg.rational,
        regress=lambda r: _regress(unfitted_copy(opt), r, cfg),
    )


def _info(
    cfg: DiscoverConfig,
    lib: FeatureLibrary,
    opt: Any,
    optimizer: Any,
    differentiation: Any,
    n_trajectories: int,
    reg: RegressionData,
) -> dict[str, Any]:
    """What the discovered model's ``info`` records of how it was made."""
    return {
        "method": "sindy",
        "library": lib.to_dict(),
        "optimizer": cfg.optimizer
        if isinstance(optimizer, str) or optimizer is None
        else type(optimizer).__name__,
        "optimizer_options": {
            k: getattr(opt, k) for k in ("threshold", "alpha", "max_iter") if hasattr(opt, k)
        },
        "differentiation": {
            "name": differentiation
            if isinstance(differentiation, str)
            else type(differentiation).__name__,
            "options": {"order": cfg.order, "window": cfg.window, "polyorder": cfg.polyorder},
        },
        "align": cfg.align,
        "config": cfg.to_dict(),
        "n_trajectories": n_trajectories,
        "n_rows": int(reg.theta.shape[0]),
    }


def _settings(
    cfg: DiscoverConfig,
    *,
    ensemble: int | None,
    align: str | bool | None,
    threshold: float | None,
    optimizer: Any,
    differentiation: Any,
) -> DiscoverConfig:
    """``cfg`` with the settings that :func:`discover` was given explicitly."""
    changes: dict[str, Any] = {}
    if ensemble is not None:
        changes["ensemble"] = int(ensemble)
    if align is not None:
        changes["align"] = resolve_align(align)
    if threshold is not None:
        changes["threshold"] = float(threshold)
    if isinstance(optimizer, str):
        changes["optimizer"] = optimizer
    if isinstance(differentiation, str):
        changes["differentiation"] = differentiation
    return cfg.replace(**changes) if changes else cfg


def _resolve_library(library: Any, data: TrajectorySet, cfg: DiscoverConfig) -> FeatureLibrary:
    if library is None:
        library = cfg.library
    if isinstance(library, str):
        angles = cfg.angles
        if angles is None and library in ("trig", "trig-poly"):
            angles = recorded_angles(data)
        return make_library(
            library,
            data.state_names,
            data.action_names,
            angles=angles,
            degree=cfg.degree,
            trig_degree=cfg.trig_degree,
            include_bias=cfg.include_bias,
            action_products=cfg.action_products,
            features=cfg.features,
        )
    if isinstance(library, FeatureLibrary):
        lib = library.rebind(data.state_names, data.action_names)
        return lib.with_features(cfg.features) if cfg.features else lib
    if isinstance(library, Sequence):
        return FeatureLibrary(list(library), data.state_names, data.action_names)
    raise ConfigError(
        "`library` must be a name, a FeatureLibrary or a list of feature expressions. Got "
        f"{type(library).__name__}."
    )


def _regression_data(
    data: TrajectorySet, lib: FeatureLibrary, method: Any, mode: str
) -> RegressionData:
    """The library's regressors (aligned with the held actions as ``mode`` says) and the state
    derivatives of ``data``; warns when there are fewer rows than features."""
    align_cols = lib.uses_actions if mode == "actions" else np.full(lib.n_features, mode == "all")

    def features(x: np.ndarray, u: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):  # NaN/inf are reported by `check` with their row
            return lib.evaluate(x, u)

    reg = regression_data(
        data,
        features,
        method,
        align_cols,
        check=lambda v, where: lib.check_finite(v, where=where),
    )
    if reg.theta.shape[0] < lib.n_features:
        warnings.warn(
            f"Only {reg.theta.shape[0]} rows for {lib.n_features} features: the regression is "
            f"under-determined; add data or use a smaller library.",
            UserWarning,
            stacklevel=3,
        )
    return reg


def _warn_if_all_zero(coef: np.ndarray, reg: RegressionData, threshold: float) -> None:
    if not np.any(coef):
        lstsq = np.linalg.lstsq(reg.theta, reg.dx, rcond=None)[0]
        warnings.warn(
            f"Every coefficient is zero: the sparsity threshold ({threshold:g}) removed all "
            f"terms (the largest least-squares coefficient is {np.abs(lstsq).max():.3g}). Lower "
            f"`threshold`, or set normalize_columns=True if the features have very different scales.",
            UserWarning,
            stacklevel=3,
        )


def _regress(
    opt: Any, reg: RegressionData, cfg: DiscoverConfig
) -> tuple[np.ndarray, dict[str, Any] | None]:
    """One sparse fit of ``reg`` (or ``cfg.ensemble`` bagged ones): coefficients (r, k) and the
    ensemble statistics (None without an ensemble)."""
    if cfg.ensemble > 1:
        return _ensemble(opt, reg, cfg)
    return fit_sparse(opt, reg.theta, reg.dx), None


def _ensemble(
    opt: Any, reg: RegressionData, cfg: DiscoverConfig
) -> tuple[np.ndarray, dict[str, Any]]:
    """Bagging: fit ``cfg.ensemble`` models on random subsets; keep terms included in at least
    ``inclusion_threshold`` of them, refit those by least squares on all rows."""
    rng = np.random.default_rng(cfg.seed)
    n_traj = int(reg.trajectory.max()) + 1 if reg.trajectory.size else 0
    by_traj = cfg.bagging == "trajectories" and n_traj >= 2
    coefs = []
    for _ in range(cfg.ensemble):
        if by_traj:
            k = max(1, math.ceil(cfg.subset * n_traj))
            chosen = rng.choice(n_traj, size=k, replace=False)
            rows = np.flatnonzero(np.isin(reg.trajectory, chosen))
        else:
            k = max(1, math.ceil(cfg.subset * reg.theta.shape[0]))
            rows = np.sort(rng.choice(reg.theta.shape[0], size=k, replace=False))
        coefs.append(fit_sparse(unfitted_copy(opt), reg.theta[rows], reg.dx[rows]))
    stack = np.stack(coefs)
    incl = (stack != 0).mean(axis=0)
    support = incl >= cfg.inclusion_threshold
    final = np.zeros_like(stack[0])
    for i in range(final.shape[0]):
        cols = np.flatnonzero(support[i])
        if cols.size:
            final[i, cols] = np.linalg.lstsq(reg.theta[:, cols], reg.dx[:, i], rcond=None)[0]
    stats = {
        "n_models": cfg.ensemble,
        "bagging": "trajectories" if by_traj else "rows",
        "coef_mean": stack.mean(axis=0),
        "coef_std": stack.std(axis=0),
        "inclusion_probability": incl,
    }
    if not np.isfinite(final).all():
        raise DiscoveryError("Ensemble refit produced non-finite coefficients; check the library.")
    return final, stats
