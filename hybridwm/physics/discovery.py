"""SINDy discovery: ``discover(data, ...) -> PhysicsModel``, with pysindy's sparse optimizers.

The feature matrix is built here (from the library's sympy expressions), the state derivatives
are estimated per trajectory with pysindy's differentiation, the action-carrying regressors are
aligned with the held actions (see :mod:`hybridwm.physics.derivatives`), and the stacked
``(Theta, dX)`` goes to a pysindy optimizer (STLSQ, SR3, ...) for the sparse regression.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from hybridwm.config import Config
from hybridwm.data import TrajectorySet
from hybridwm.errors import ConfigError, DataError, DiscoveryError, UnknownNameError
from hybridwm.physics.derivatives import (
    RegressionData,
    _resolve_align,
    make_differentiation,
    regression_data,
)
from hybridwm.physics.expressions import parse_expression
from hybridwm.physics.features import FeatureLibrary, guess_angles, make_library
from hybridwm.physics.model import PhysicsModel
from hybridwm.physics.rational import (
    denominator_expression,
    estimate_denominator,
    kinematic_rows,
    z_range,
)
from hybridwm.registry import Registry

__all__ = [
    "OPTIMIZERS",
    "DiscoverConfig",
    "discover",
    "infer_angles",
    "make_optimizer",
]


@dataclasses.dataclass
class DiscoverConfig(Config):
    """Settings of :func:`discover` (fields map 1:1 to ``hybridwm discover`` flags).

    Attributes:
        library: library name (``"poly"``, ``"trig"``, ``"trig-poly"``, ``"linear"``, ``"none"``).
        angles: states treated as angles; default: names that look like angles.
        degree: polynomial degree in the (non-angle) states.
        trig_degree: degree of sin/cos products (``"trig-poly"``).
        include_bias: include the constant feature ``1``.
        action_products: state features each action multiplies, e.g. ``("cos(theta)",)``.
        features: extra custom features (expressions over state and action names).
        optimizer: ``"stlsq"`` or ``"sr3"``.
        threshold: sparsity threshold (coefficients below it are cut).
        alpha: ridge weight of STLSQ.
        max_iter: optimizer iterations.
        normalize_columns: let the optimizer normalize feature columns (threshold then applies
            to normalized coefficients).
        differentiation: ``"finite_difference"`` or ``"smoothed_finite_difference"`` (``"savgol"``).
        order: finite-difference accuracy order.
        window: Savitzky-Golay window (smoothed differentiation).
        polyorder: Savitzky-Golay polynomial order.
        align: ``"actions"`` (default), ``"all"`` or ``"none"``: which regressors are aligned
            with the held actions.
        ensemble: number of bagged models (0 or 1: no ensemble).
        subset: fraction of trajectories (or rows) in each bagged model.
        bagging: ``"trajectories"`` or ``"rows"``.
        inclusion_threshold: terms kept in the final ensembled model must appear in at least
            this fraction of the bagged models.
        seed: seed of the bagging.
        denominator: expression ``z`` over the states, e.g. ``"cos(theta2)"``: the derivatives
            of the ``rational`` rows are sparse combinations of ``feature / D(z)`` with
            ``D(z) = 1 + d_1 z + ... + d_m z^m`` estimated from the data first (see
            :mod:`hybridwm.physics.rational`). For mechanics with configuration-dependent
            inertia (``M(q)^-1`` makes the accelerations rational). None: no denominator.
        denominator_degree: ``m``, the degree of ``D`` in ``z``.
        rational: states whose derivatives get the denominator; None: every state whose
            derivative is not (almost) another state (the accelerations, not ``dq/dt = omega``).
    """

    library: str = "trig-poly"
    angles: tuple[str, ...] | None = None
    degree: int = 2
    trig_degree: int = 2
    include_bias: bool = True
    action_products: tuple[str, ...] = ()
    features: tuple[str, ...] = ()
    optimizer: str = "stlsq"
    threshold: float = 0.1
    alpha: float = 0.05
    max_iter: int = 20
    normalize_columns: bool = False
    differentiation: str = "finite_difference"
    order: int = 2
    window: int = 11
    polyorder: int = 3
    align: str = "actions"
    ensemble: int = 0
    subset: float = 0.6
    bagging: str = "trajectories"
    inclusion_threshold: float = 0.5
    seed: int = 0
    denominator: str | None = None
    denominator_degree: int = 2
    rational: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.denominator_degree, bool) or not isinstance(
            self.denominator_degree, int
        ):
            raise ConfigError(
                f"`denominator_degree` must be an integer >= 1. Got {self.denominator_degree!r}."
            )
        if self.denominator_degree < 1:
            raise ConfigError(
                f"`denominator_degree` must be >= 1 (D(z) = 1 + d_1 z + ...). Got "
                f"{self.denominator_degree}."
            )
        if self.rational is not None and self.denominator is None:
            raise ConfigError(
                f"`rational` ({list(self.rational)}) needs a `denominator` expression, e.g. "
                f"denominator='cos(theta2)'; without one there is nothing to divide by."
            )
        if self.denominator is not None and not str(self.denominator).strip():
            raise ConfigError(
                "`denominator` must be an expression over the states, e.g. 'cos(theta2)'. Got "
                "an empty string; use None for no denominator."
            )
        if self.threshold < 0:
            raise ConfigError(f"`threshold` must be >= 0. Got {self.threshold}.")
        if self.alpha < 0:
            raise ConfigError(f"`alpha` must be >= 0. Got {self.alpha}.")
        if self.ensemble < 0:
            raise ConfigError(f"`ensemble` (number of models) must be >= 0. Got {self.ensemble}.")
        if not 0 < self.subset <= 1:
            raise ConfigError(f"`subset` must be in (0, 1]. Got {self.subset}.")
        if not 0 < self.inclusion_threshold <= 1:
            raise ConfigError(
                f"`inclusion_threshold` must be in (0, 1]. Got {self.inclusion_threshold}."
            )
        if self.bagging not in ("trajectories", "rows"):
            raise ConfigError(f"`bagging` must be 'trajectories' or 'rows'. Got {self.bagging!r}.")
        _resolve_align(self.align)


def _stlsq(
    threshold: float = 0.1,
    alpha: float = 0.05,
    max_iter: int = 20,
    normalize_columns: bool = False,
    **_: Any,
) -> Any:
    import pysindy as ps

    return ps.STLSQ(
        threshold=threshold, alpha=alpha, max_iter=max_iter, normalize_columns=normalize_columns
    )


def _sr3(
    threshold: float = 0.1,
    max_iter: int = 30,
    normalize_columns: bool = False,
    nu: float = 1.0,
    **_: Any,
) -> Any:
    import pysindy as ps

    return ps.SR3(
        reg_weight_lam=ps.SR3.calculate_l0_weight(threshold, nu),
        regularizer="L0",
        relax_coeff_nu=nu,
        max_iter=max(max_iter, 30),
        normalize_columns=normalize_columns,
        unbias=True,
    )


OPTIMIZERS: Registry[Callable[..., Any]] = Registry("optimizer", "optimizer")
OPTIMIZERS.register("stlsq", _stlsq)
OPTIMIZERS.register("sr3", _sr3)


def make_optimizer(optimizer: Any = "stlsq", **kwargs: Any) -> Any:
    """A pysindy optimizer from a registry name and keyword options (or the object itself).

    Args:
        optimizer: ``"stlsq"``, ``"sr3"`` or a pysindy optimizer object (used as is).
        **kwargs: ``threshold``, ``alpha``, ``max_iter``, ``normalize_columns`` (``nu`` for SR3).
    """
    if isinstance(optimizer, str):
        return OPTIMIZERS[optimizer](**kwargs)
    if not hasattr(optimizer, "fit"):
        raise ConfigError(
            f"`optimizer` must be a name ({OPTIMIZERS.names()}) or a pysindy optimizer. Got "
            f"{type(optimizer).__name__}."
        )
    return optimizer


def _resolve_library(library: Any, data: TrajectorySet, cfg: DiscoverConfig) -> FeatureLibrary:
    if library is None:
        library = cfg.library
    if isinstance(library, str):
        angles = cfg.angles
        if angles is None and library in ("trig", "trig-poly"):
            angles = _system_angles(data)
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


def _system_angles(data: TrajectorySet) -> tuple[str, ...] | None:
    """Angle names declared by the data's system (``meta['system']``), if it can be found."""
    name = data[0].meta.get("system") if data[0].meta else None
    if not name:
        return None
    try:
        from hybridwm.systems import get_system  # type: ignore[attr-defined]

        sysobj = get_system(name)
    except Exception:
        return None
    angles = getattr(sysobj, "angle_names", None)
    if angles is None:
        return None
    angles = tuple(a for a in angles if a in data.state_names)
    return angles or None


def infer_angles(
    state_names: Sequence[str],
    *,
    physics: Any = None,
    data: TrajectorySet | None = None,
) -> tuple[str, ...]:
    """Which of ``state_names`` are angles, from the best source available.

    In order: the angles a discovered ``physics`` model was told (``info["config"]["angles"]``
    or its library's), the angles of the data's ground-truth system (``meta["system"]`` of the
    first trajectory, when that system is known), else the names that look like angles
    (:func:`~hybridwm.physics.guess_angles`: ``theta``, ``phi1``, ``*angle*``, ...).

    Args:
        state_names: the candidate state names.
        physics: a PhysicsModel (or ``None``).
        data: the trajectories (or ``None``).

    Returns:
        The angle names, in ``state_names`` order (possibly empty).
    """
    names = tuple(state_names)
    found: tuple[str, ...] | None = None
    info = getattr(physics, "info", None)
    if isinstance(info, dict):
        cfg = info.get("config")
        lib = info.get("library")
        for src in (cfg, lib):
            if isinstance(src, dict) and src.get("angles") is not None:
                found = tuple(src["angles"])
                break
        if found is None and info.get("angles") is not None:
            found = tuple(info["angles"])
    if found is None and data is not None and len(data):
        found = _system_angles(data)
    if found is None:
        found = guess_angles(names)
    return tuple(n for n in names if n in set(found))


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
    cfg = config or DiscoverConfig()
    changes: dict[str, Any] = {}
    if ensemble is not None:
        changes["ensemble"] = int(ensemble)
    if align is not None:
        changes["align"] = _resolve_align(align)
    if threshold is not None:
        changes["threshold"] = float(threshold)
    if isinstance(optimizer, str):
        changes["optimizer"] = optimizer
    if isinstance(differentiation, str):
        changes["differentiation"] = differentiation
    if changes:
        cfg = cfg.replace(**changes)
    mode = _resolve_align(cfg.align)

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
            stacklevel=2,
        )

    exprs = list(lib.exprs)
    rational_info: dict[str, Any] | None = None
    if cfg.denominator is not None:
        exprs, coef, ens_stats, rational_info = _fit_rational(
            data, lib, reg, opt, cfg, method, mode
        )
    else:
        coef = _fit(opt, reg.theta, reg.dx)
        ens_stats = None
        if cfg.ensemble > 1:
            coef, ens_stats = _ensemble(opt, reg, cfg)

    if not np.any(coef):
        lstsq = np.linalg.lstsq(reg.theta, reg.dx, rcond=None)[0]
        warnings.warn(
            f"Every coefficient is zero: the sparsity threshold ({cfg.threshold:g}) removed all "
            f"terms (the largest least-squares coefficient is {np.abs(lstsq).max():.3g}). Lower "
            f"`threshold`, or set normalize_columns=True if the features have very different scales.",
            UserWarning,
            stacklevel=2,
        )

    info = {
        "method": "sindy",
        "library": lib.to_dict(),
        "optimizer": cfg.optimizer
        if isinstance(optimizer, str) or optimizer is None
        else type(optimizer).__name__,
        "optimizer_options": {
            k: getattr(opt, k) for k in ("threshold", "alpha", "max_iter") if hasattr(opt, k)
        },
        "differentiation": {
            "name": diff_obj if isinstance(diff_obj, str) else type(diff_obj).__name__,
            "options": {"order": cfg.order, "window": cfg.window, "polyorder": cfg.polyorder},
        },
        "align": mode,
        "config": cfg.to_dict(),
        "n_trajectories": len(data),
        "n_rows": int(reg.theta.shape[0]),
    }
    if rational_info is not None:
        info["rational"] = rational_info
    return PhysicsModel(
        data.state_names,
        data.action_names,
        exprs,
        coef,
        ensemble=ens_stats,
        info=info,
    )


def _fit_rational(
    data: TrajectorySet,
    lib: FeatureLibrary,
    reg: RegressionData,
    opt: Any,
    cfg: DiscoverConfig,
    method: Any,
    mode: str,
) -> tuple[list[Any], np.ndarray, dict[str, Any] | None, dict[str, Any]]:
    """Sparse regression with a shared denominator on the rational rows (module
    :mod:`hybridwm.physics.rational`): the other rows regress on the library, the rational ones
    on ``feature / D(z)``. Returns the features used, the coefficients, the ensemble
    statistics (or None) and what to record in ``info["rational"]``."""
    from sklearn.base import clone

    states = tuple(data.state_names)
    z_expr = parse_expression(
        cfg.denominator, states, what="denominator (an expression over the states)"
    )
    if not z_expr.free_symbols:
        raise ConfigError(
            f"`denominator` {cfg.denominator!r} is a constant; it must depend on a state, e.g. "
            f"'cos(theta2)'."
        )
    offsets = np.concatenate([[0], np.cumsum(data.lengths)[:-1]]).astype(np.int64)
    x_all = np.concatenate([tr.x for tr in data], axis=0)
    x_rows = x_all[offsets[reg.trajectory] + reg.row]
    z_lib = FeatureLibrary([z_expr], states, data.action_names)
    z = z_lib.evaluate(x_rows, np.zeros((len(x_rows), len(data.action_names))))[:, 0]

    if cfg.rational is None:
        is_rational = ~kinematic_rows(reg.dx, x_rows)
    else:
        unknown = [n for n in cfg.rational if n not in states]
        if unknown:
            raise UnknownNameError(
                f"`rational` names {unknown}, which are not states of the data. States: "
                f"{list(states)}."
            )
        is_rational = np.array([n in cfg.rational for n in states])
    if not is_rational.any():
        raise DiscoveryError(
            f"No state was found whose derivative is rational: each of {list(states)} has a "
            f"derivative equal to another state. Name them with `rational=[...]`."
        )
    rows_r = np.flatnonzero(is_rational)
    rows_p = np.flatnonzero(~is_rational)

    bounds = z_range(z_expr, z)
    d = estimate_denominator(reg.theta, reg.dx[:, rows_r], z, cfg.denominator_degree, bounds=bounds)
    den = denominator_expression(z_expr, d)
    rlib = FeatureLibrary([e / den for e in lib.exprs], states, data.action_names)
    align_r = rlib.uses_actions if mode == "actions" else np.full(rlib.n_features, mode == "all")

    def rfeatures(x: np.ndarray, u: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            return rlib.evaluate(x, u)

    reg_r = regression_data(
        data, rfeatures, method, align_r, check=lambda v, w: rlib.check_finite(v, where=w)
    )

    def fit_group(r: RegressionData, cols: np.ndarray) -> tuple[np.ndarray, Any]:
        sub = dataclasses.replace(r, dx=r.dx[:, cols])
        if cfg.ensemble > 1:
            return _ensemble(clone(opt), sub, cfg)
        return _fit(clone(opt), sub.theta, sub.dx), None

    k = lib.n_features
    coef = np.zeros((len(states), 2 * k))
    stats = {
        "coef_mean": coef.copy(),
        "coef_std": coef.copy(),
        "inclusion_probability": coef.copy(),
    }
    ens_meta: dict[str, Any] = {}
    for cols, r, sl in ((rows_p, reg, slice(0, k)), (rows_r, reg_r, slice(k, 2 * k))):
        if not cols.size:
            continue
        c, st = fit_group(r, cols)
        coef[cols, sl] = c
        if st is not None:
            for key in stats:
                stats[key][cols, sl] = st[key]
            ens_meta = {key: st[key] for key in ("n_models", "bagging")}
    # keep the features some row uses (or some bagged model included)
    used = np.any(coef != 0, axis=0) | np.any(stats["inclusion_probability"] > 0, axis=0)
    if not used.any():
        used[:] = True
    keep = np.flatnonzero(used)
    exprs = [*lib.exprs, *rlib.exprs]
    ens_stats = None
    if cfg.ensemble > 1:
        ens_stats = {**ens_meta, **{key: v[:, keep] for key, v in stats.items()}}
    info = {
        "z": str(z_expr),
        "degree": cfg.denominator_degree,
        "coefficients": [float(v) for v in d],
        "denominator": str(den),
        "rational_states": [states[i] for i in rows_r],
        "z_range": [float(bounds[0]), float(bounds[1])],
    }
    return [exprs[i] for i in keep], coef[:, keep], ens_stats, info


def _fit(opt: Any, theta: np.ndarray, dx: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Sparsity parameter is too big.*")
        opt.fit(theta, dx)
    return np.asarray(opt.coef_, dtype=np.float64).reshape(dx.shape[1], theta.shape[1])


def _ensemble(opt: Any, reg: Any, cfg: DiscoverConfig) -> tuple[np.ndarray, dict[str, Any]]:
    """Bagging: fit ``cfg.ensemble`` models on random subsets; keep terms included in at least
    ``inclusion_threshold`` of them, refit those by least squares on all rows."""
    from sklearn.base import clone

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
        coefs.append(_fit(clone(opt), reg.theta[rows], reg.dx[rows]))
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
