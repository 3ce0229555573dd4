"""SINDy discovery: ``discover(data, ...) -> PhysicsModel``, with pysindy's sparse optimizers.

The feature matrix is built here (from the library's sympy expressions). The regression rows are
either derivative estimates (pysindy's differentiation, smoothed with a window chosen from the
data by :mod:`hybridwm.physics.smoothing`, the action-carrying regressors aligned with the held
actions, see :mod:`hybridwm.physics.derivatives`) or weak-form integrals
(:mod:`hybridwm.physics.weak`). The stacked ``(Theta, dX)`` goes to a pysindy optimizer (STLSQ,
SR3, ...) along a path of thresholds, each equation's threshold chosen on held-out trajectories
(:mod:`hybridwm.physics.selection`), once or bagged over random subsets
(:mod:`hybridwm.physics.ensemble`), with a shared denominator on the rational rows when
``denominator`` is set (:mod:`hybridwm.physics.rational`). The result is checked
(:mod:`hybridwm.physics.diagnostics`) and every doubt is a ``DiscoveryWarning``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from hybridwm.data import TrajectorySet
from hybridwm.errors import ConfigError, DataError
from hybridwm.physics import diagnostics
from hybridwm.physics.angles import recorded_angles
from hybridwm.physics.config import DiscoverConfig
from hybridwm.physics.derivatives import (
    RegressionData,
    make_differentiation,
    regression_data,
    resolve_align,
)
from hybridwm.physics.ensemble import bagged_fit
from hybridwm.physics.features import FeatureLibrary, make_library
from hybridwm.physics.kinematics import parse_kinematics, pin_rows, pinned_rows
from hybridwm.physics.model import PhysicsModel
from hybridwm.physics.rational import Scaled, fit_groups, fit_rational
from hybridwm.physics.refinement import refine_coefficients
from hybridwm.physics.selection import (
    Path,
    Selection,
    chosen_fit,
    elimination_path,
    fixed_path,
    fold_ids,
    select_sparse,
)
from hybridwm.physics.smoothing import WindowChoice, choose_window
from hybridwm.physics.sparse_regression import fit_sparse, make_optimizer, unfitted_copy
from hybridwm.physics.weak import WeakForm, weak_width

__all__ = ["discover"]

#: the Savitzky-Golay window when the differentiation is not smoothed (recorded, unused)
UNSMOOTHED_WINDOW = 11
#: differentiation names that smooth, whose window is chosen from the data when not given
SMOOTHED = ("smoothed_finite_difference", "savgol")


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

    Nothing needs hand-tuning: the smoothing window is chosen by generalized cross-validation
    (``info["differentiation"]["window_choice"]``), each equation's number of terms on held-out
    trajectories (``info["selection"]``, terms vs held-out error). The coefficients are the
    chosen row of that table (or the ensemble's ``config.aggregate``), the ones ``predict``,
    ``simulate`` and the vector field use, unless ``config.refine`` fits them (and with
    ``"terms"`` the terms too) again by simulation error (``info["refinement"]``; the bagging
    statistics of an ensemble are then dropped). ``config.method="weak"``: weak-form
    integrals.

    With ``config.denominator`` set, the rows named in ``config.rational`` (default: all but
    the kinematic ``dq/dt = v`` rows) become ``(Theta(x, u) / D(z)) @ C.T`` with a denominator
    ``D(z) = 1 + d_1 z + ...`` estimated from the data first (:mod:`hybridwm.physics.rational`);
    ``info["rational"]`` records ``D``.

    Args:
        data: trajectories (any lengths and time grids); actions are held on each interval.
        library: a library name (options from ``config``), a :class:`FeatureLibrary`, or a
            list of feature expressions. Default ``config.library``.
        optimizer: a name (``"stlsq"``, ``"sr3"``, options from ``config``) or a pysindy
            optimizer object (used as is, with its own threshold). Default ``config.optimizer``.
        differentiation: a name (``"smoothed_finite_difference"``, ``"finite_difference"``)
            or a linear pysindy differentiation object. Default ``config.differentiation``.
        ensemble: number of bagged models (overrides ``config.ensemble``).
        config: all settings; arguments given explicitly override its fields.
        align: override ``config.align`` (``True`` means ``"actions"``, ``False`` ``"none"``).
        threshold: override ``config.threshold`` (a number fixes it; None: chosen).

    Returns:
        The PhysicsModel; ``info`` records the settings, the window, the selection table and
        the diagnostics' findings; ``ensemble`` the bagging statistics (``ensemble > 1``).

    Raises:
        UnknownNameError: the library uses names the data lacks (the message lists them).
        DiscoveryError: a feature is NaN/inf on the data (names the feature and row).
        DataError: a trajectory is too short to differentiate.
        ConfigError: ``denominator`` does not depend on any state.

    Warns:
        DiscoveryWarning: poor held-out fit, divergence on the training episodes, collinear
            chosen terms or samples flagged at limits/in contact (``config.diagnostics``).
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
    return _discover(data, lib, cfg, optimizer, differentiation)


def _discover(
    data: TrajectorySet, lib: FeatureLibrary, cfg: DiscoverConfig, optimizer: Any, given: Any
) -> PhysicsModel:
    """The work of :func:`discover` once the settings and the library are settled
    (``optimizer`` and ``given``: the optimizer and differentiation arguments as passed)."""
    explicit = optimizer is not None and not isinstance(optimizer, str)
    opt = make_optimizer(
        optimizer if explicit else cfg.optimizer,
        threshold=0.1 if cfg.threshold is None else cfg.threshold,
        alpha=cfg.alpha,
        max_iter=cfg.max_iter,
        normalize_columns=cfg.normalize_columns,
    )
    diff_obj, choice, window, method = _differentiation(data, cfg, given)
    width = _weak_width(data, cfg, choice)
    rows = _RowMaker(data, method, cfg, width)
    regression = _Regression(cfg, opt, explicit=explicit)
    reg = rows(lib)
    _warn_if_underdetermined(reg, lib)
    pins = parse_kinematics(cfg.kinematics, data.state_names)
    exprs, coef, ens_stats, rational_info = _fit(data, lib, reg, rows, regression, cfg, pins)
    if pins:
        exprs, coef, ens_stats = pin_rows(
            exprs, coef, ens_stats, pins, data.state_names, data.action_names
        )
    _warn_if_all_zero(coef, reg, cfg.threshold)
    info = _info(cfg, lib, opt, optimizer, diff_obj, len(data), reg)
    info["differentiation"].update(
        {"options": {**info["differentiation"]["options"], "window": window}}
        | ({"window_choice": choice.to_dict()} if choice is not None else {})
    )
    info.update(
        {"selection": regression.record(data.state_names)}
        | ({"weak": {"window": width, "rows": int(reg.theta.shape[0])}} if width else {})
        | ({"rational": rational_info} if rational_info is not None else {})
        | ({"kinematics": dict(pins)} if pins else {})
    )
    model = PhysicsModel(
        data.state_names, data.action_names, exprs, coef, ensemble=ens_stats, info=info
    )
    held = pinned_rows(model.info, data.state_names)
    if cfg.refine != "none" and model.mask[~held].any():
        candidates = lib if cfg.refine == "terms" else None
        model = refine_coefficients(model, data, segment=cfg.refine_segment, library=candidates)
    if cfg.diagnostics:
        findings = _diagnose(model, data, regression.r2)
        model.info["diagnostics"] = findings
        diagnostics.issue(findings, stacklevel=4)
    return model


def _differentiation(
    data: TrajectorySet, cfg: DiscoverConfig, given: Any
) -> tuple[Any, WindowChoice | None, int, Any]:
    """The differentiation: its name (or the object given), the smoothing window chosen from
    the data (None when not needed or not possible), the window used and the pysindy object.

    ``"auto"`` smooths with the GCV window unless the data cannot be smoothed (a trajectory
    shorter than the shortest window, or a non-uniform time grid, which Savitzky-Golay
    assumes) or GCV finds no noise to remove (its shortest window wins): then plain finite
    differences. The weak method needs the window for its test functions in any case.
    """
    if given is not None and not isinstance(given, str):
        name: Any = given
    else:
        name = cfg.differentiation
    smoothable = all(tr.is_uniform for tr in data) and int(data.lengths.min()) >= (
        (cfg.polyorder + 2) | 1
    )
    wanted = (name == "auto" and smoothable) or (name in SMOOTHED and cfg.window is None)
    wanted = wanted or (cfg.method == "weak" and cfg.weak_window is None)
    choice = choose_window(data, cfg.polyorder) if wanted else None
    if name == "auto":
        noisy = choice is not None and smoothable and choice.window > choice.windows[0]
        name = "smoothed_finite_difference" if noisy else "finite_difference"
    window = cfg.window or (choice.window if choice else UNSMOOTHED_WINDOW)
    method = make_differentiation(name, order=cfg.order, window=window, polyorder=cfg.polyorder)
    return name, choice, window, method


def _weak_width(
    data: TrajectorySet, cfg: DiscoverConfig, choice: WindowChoice | None
) -> int | None:
    """The weak form's test-function window (None for the derivative method)."""
    if cfg.method != "weak":
        return None
    if cfg.weak_window is not None:
        return cfg.weak_window
    smoothing = choice.window if choice is not None else choose_window(data, cfg.polyorder).window
    return weak_width(smoothing, int(data.lengths.min()))


class _RowMaker:
    """The regression rows of a library (derivative or weak form), once per library; and the
    rows of weighted library columns for the denominator's second estimate."""

    def __init__(
        self, data: TrajectorySet, method: Any, cfg: DiscoverConfig, width: int | None
    ) -> None:
        self.data, self.method, self.mode = data, method, cfg.align
        self.weak = WeakForm(data, width) if width is not None else None
        self.cache: dict[int, tuple[FeatureLibrary, RegressionData]] = {}

    def __call__(self, lib: FeatureLibrary) -> RegressionData:
        if id(lib) in self.cache:
            return self.cache[id(lib)][1]

        def features(x: np.ndarray, u: np.ndarray) -> np.ndarray:
            with np.errstate(all="ignore"):  # NaN/inf are reported by `check` with their row
                return lib.evaluate(x, u)

        def check(v: np.ndarray, where: str) -> None:
            lib.check_finite(v, where=where)

        if self.weak is not None:
            reg = self.weak.rows(features, check)
        else:
            mode = self.mode
            cols = lib.uses_actions if mode == "actions" else np.full(lib.n_features, mode == "all")
            reg = regression_data(self.data, features, self.method, cols, check=check)
        self.cache[id(lib)] = (lib, reg)  # the library is kept so that its id stays unique
        return reg

    def scaled(self, lib: FeatureLibrary) -> Scaled:
        """``scaled(columns, weight)`` of :func:`~hybridwm.physics.rational.fit_rational`."""
        reg = self(lib)
        if self.weak is not None:
            weak = self.weak

            def integrals(cols: np.ndarray, weight: Callable[[np.ndarray], np.ndarray]) -> Any:
                def fn(x: np.ndarray, u: np.ndarray) -> np.ndarray:
                    with np.errstate(all="ignore"):
                        return lib.evaluate_subset(cols, x, u) * weight(x)[:, None]

                return weak.integrate(fn), reg.dx

            return integrals
        offsets = np.concatenate([[0], np.cumsum(self.data.lengths)[:-1]]).astype(np.int64)
        x_rows = np.concatenate([tr.x for tr in self.data])[offsets[reg.trajectory] + reg.row]

        def pointwise(cols: np.ndarray, weight: Callable[[np.ndarray], np.ndarray]) -> Any:
            return reg.theta[:, cols] * weight(x_rows)[:, None], reg.dx

        return pointwise


class _Regression:
    """The sparse fit of one group of equations (rows of the regression): the threshold path,
    its held-out selection and the optional ensemble; remembers every selection made."""

    def __init__(self, cfg: DiscoverConfig, opt: Any, *, explicit: bool) -> None:
        self.cfg = cfg
        self.opt = opt
        self.auto = cfg.threshold is None and not explicit
        self.selections: list[tuple[list[int], Selection]] = []

    def path(self) -> Path:
        """Backward elimination when the threshold is chosen, else the optimizer as given."""
        if self.auto:
            return elimination_path
        return fixed_path(lambda th, dx: fit_sparse(unfitted_copy(self.opt), th, dx))

    def __call__(
        self, reg: RegressionData, rows: Sequence[int]
    ) -> tuple[np.ndarray, dict[str, Any] | None]:
        """Coefficients (len(rows), k) of the equations ``rows`` and the ensemble statistics."""
        cfg = self.cfg
        path = self.path()
        fold = fold_ids(reg.trajectory, reg.row, cfg.folds, cfg.seed)
        sel = select_sparse(reg.theta, reg.dx, fold, path, [str(j) for j in range(len(rows))])
        self.selections.append((list(rows), sel))
        if cfg.ensemble > 1:
            return bagged_fit(
                chosen_fit(path, sel.index),
                reg,
                n_models=cfg.ensemble,
                subset=cfg.subset,
                bagging=cfg.bagging,
                inclusion_threshold=cfg.inclusion_threshold,
                aggregate=cfg.aggregate,
                seed=cfg.seed,
            )
        return sel.coef, None

    def _latest(self) -> dict[int, tuple[Selection, int]]:
        """The last selection of each equation (state index) and its position in it (the
        rational rows are selected again after the denominator's second estimate)."""
        return {r: (sel, j) for rows, sel in self.selections for j, r in enumerate(rows)}

    @property
    def r2(self) -> dict[int, float]:
        """Held-out R² of each equation fitted so far (by state index)."""
        return {r: float(sel.r2[j]) for r, (sel, j) in self._latest().items()}

    def record(self, state_names: Sequence[str]) -> dict[str, Any]:
        """``info["selection"]``: the rule, the path, the folds, the chosen number of terms and
        held-out R² of each equation, and the table (states by name, in state order)."""
        latest = self._latest()
        table, chosen = [], {}
        for r in sorted(latest):
            sel, j = latest[r]
            name = state_names[r]
            table += [{**e, "state": name} for e in sel.table if e["state"] == str(j)]
            chosen[name] = {
                "terms": int(np.count_nonzero(sel.coef[j])),
                "heldout_r2": float(sel.r2[j]),
            }
        first = self.selections[0][1] if self.selections else None
        return {
            "rule": first.rule if first else "",
            "path": "backward elimination" if self.auto else "the optimizer as given",
            "folds": first.folds if first else 0,
            "chosen": chosen,
            "table": table,
        }


def _fit(
    data: TrajectorySet,
    lib: FeatureLibrary,
    reg: RegressionData,
    rows: _RowMaker,
    regression: _Regression,
    cfg: DiscoverConfig,
    pins: dict[str, str],
) -> tuple[list[Any], np.ndarray, dict[str, Any] | None, dict[str, Any] | None]:
    """The sparse regression, with a shared denominator when ``cfg.denominator`` is set: the
    features used, the coefficients, the ensemble statistics (or None) and ``info["rational"]``
    (None without a denominator). The rows ``pins`` names are not regressed (zero here)."""
    if cfg.denominator is None:
        free = np.array([i for i, n in enumerate(data.state_names) if n not in pins], np.int64)
        coef, stats, meta = fit_groups(((free, reg),), data.n_x, lib.n_features, regression)
        return list(lib.exprs), coef, ({**meta, **stats} if meta else None), None
    strong = reg if cfg.method == "derivative" else _strong_rows(data, lib, cfg)
    return fit_rational(
        data,
        lib,
        strong,
        rows,
        denominator=cfg.denominator,
        degree=cfg.denominator_degree,
        rational=cfg.rational,
        pinned=tuple(pins),
        regress=regression,
        scaled=rows.scaled(lib),
        folds=cfg.folds,
        seed=cfg.seed,
    )


def _strong_rows(data: TrajectorySet, lib: FeatureLibrary, cfg: DiscoverConfig) -> RegressionData:
    """Derivative rows of ``lib`` (for the denominator's estimate of the weak method)."""
    method = _differentiation(data, cfg.replace(method="derivative"), None)[3]
    return _RowMaker(data, method, cfg, None)(lib)


def _diagnose(
    model: PhysicsModel, data: TrajectorySet, r2: dict[int, float]
) -> list[dict[str, Any]]:
    """The diagnostics' findings on the discovered model (see :mod:`~hybridwm.physics.diagnostics`)."""
    names = data.state_names
    findings = diagnostics.flagged_samples(data)
    findings += diagnostics.heldout_fit({names[i]: r2[i] for i in sorted(r2)})
    x = np.concatenate([tr.x for tr in data])
    u = np.concatenate([tr.u for tr in data])
    with np.errstate(all="ignore"):
        theta = model.library.evaluate(x, u, model.parameter_array())
    findings += diagnostics.collinearity(theta, model.coef_array, names, model.feature_names)
    findings += diagnostics.divergence(model, data)
    return findings


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
        "form": cfg.method,
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


def _warn_if_all_zero(coef: np.ndarray, reg: RegressionData, threshold: float | None) -> None:
    if not np.any(coef):
        lstsq = np.linalg.lstsq(reg.theta, reg.dx, rcond=None)[0]
        given = "chosen on held-out data" if threshold is None else f"{threshold:g}"
        warnings.warn(
            f"Every coefficient is zero: the sparsity threshold ({given}) removed all "
            f"terms (the largest least-squares coefficient is {np.abs(lstsq).max():.3g}). Lower "
            f"`threshold`, or set normalize_columns=True if the features have very different scales.",
            UserWarning,
            stacklevel=4,
        )


def _warn_if_underdetermined(reg: RegressionData, lib: FeatureLibrary) -> None:
    if reg.theta.shape[0] < lib.n_features:
        warnings.warn(
            f"Only {reg.theta.shape[0]} rows for {lib.n_features} features: the regression is "
            f"under-determined; add data or use a smaller library.",
            UserWarning,
            stacklevel=4,
        )
