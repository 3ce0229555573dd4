"""PhysicsModel: discovered or declared equations dx/dt = Theta(x, u; p) @ C(p).T.

A model is a :class:`~hybridwm.physics.features.FeatureLibrary` (the terms), a coefficient
matrix ``C`` of shape (n_x, n_features) and, for declared priors, named parameters ``p`` that the
coefficients (and possibly features) depend on. Discovered models have plain numbers as
coefficients; declared ones have expressions such as ``-w0**2``.

JSON format (``format_version`` 1)::

    {
      "format": "hybridwm.physics", "format_version": 1,
      "state_names": ["theta", "omega"], "action_names": ["torque"],
      "parameters": [{"name": "w0", "value": 3.1, "bounds": [0, 10], "fixed": false}],
      "features": ["sin(theta)", "omega", "torque"],          # parseable expressions
      "coefficients": [[0, 1, 0], ["-w0**2", 0, 0]],          # numbers or expressions
      "ensemble": null | {"n_models": 20, "coef_mean": [[...]], "coef_std": [[...]],
                          "inclusion_probability": [[...]]},
      "info": {...}                                           # how it was made (free form)
    }

Expressions are parsed with a whitelist parser (never ``eval``), so loading a file runs no code.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import sympy as sp

from hybridwm._io import atomic_write_text, to_jsonable
from hybridwm.data import TrajectorySet
from hybridwm.errors import (
    ConfigError,
    DataError,
    FormatError,
    HybridWMError,
    IncompatibleVersionError,
    ShapeError,
    UnknownNameError,
)
from hybridwm.physics.expressions import (
    compile_expressions,
    expr_latex,
    expr_name,
    parse_expression,
)
from hybridwm.physics.features import FeatureLibrary

if TYPE_CHECKING:
    import torch

    from hybridwm.physics.torch_field import PhysicsVectorField

__all__ = ["FORMAT", "FORMAT_VERSION", "Parameter", "PhysicsModel"]

FORMAT = "hybridwm.physics"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Parameter:
    """A named parameter of a declared prior.

    Attributes:
        name: the name used in the equations.
        value: current value.
        bounds: ``(lower, upper)``; ``None`` for either side means unbounded.
        fixed: if True the parameter is never fitted or trained.
    """

    name: str
    value: float
    bounds: tuple[float | None, float | None] | None = None
    fixed: bool = False

    def bounds_tuple(self) -> tuple[float, float]:
        """``(lo, hi)`` with ``-inf``/``inf`` for missing bounds."""
        lo, hi = self.bounds if self.bounds is not None else (None, None)
        return (-math.inf if lo is None else float(lo), math.inf if hi is None else float(hi))

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible form."""
        return {
            "name": self.name,
            "value": float(self.value),
            "bounds": None if self.bounds is None else list(self.bounds),
            "fixed": bool(self.fixed),
        }


def _fmt(c: float, precision: int) -> str:
    return f"{c:.{precision}g}"


class PhysicsModel:
    """Equations ``dx/dt = Theta(x, u; p) @ C(p).T`` with names, printing, simulation and IO.

    Build one with :func:`~hybridwm.physics.discover` or :func:`~hybridwm.physics.declare`;
    the constructor is for those and for loading.

    Args:
        state_names: names of the n_x states (one equation each).
        action_names: names of the n_u actions (may be empty).
        features: the n_f feature expressions (text or sympy).
        coefficients: (n_x, n_f) numbers, or nested lists of numbers/expressions over parameters.
        parameters: the parameters coefficients and features may use.
        ensemble: optional ensemble statistics: ``n_models`` and (n_x, n_f) arrays
            ``coef_mean``, ``coef_std``, ``inclusion_probability``.
        info: free-form JSON-compatible metadata (how the model was made). A declared prior's
            ``info["sharpness"]`` sets the smooth form of ``min``/``max``/``clip`` in training
            (see :func:`~hybridwm.physics.expressions.smooth_saturation`).
        observations: optional observation equations ``{name: expression}``, ``y = h(x, p)``
            over the states and parameters (e.g. ``{"theta_meas": "theta + offset"}``): what a
            sensor measures when it is not a state itself. A world model fitted to data with a
            column ``name`` compares its prediction ``h(x, p)`` with that column.
    """

    def __init__(
        self,
        state_names: Sequence[str],
        action_names: Sequence[str],
        features: Sequence[str | sp.Expr],
        coefficients: Any,
        *,
        parameters: Sequence[Parameter] | Mapping[str, Parameter] | None = None,
        ensemble: Mapping[str, Any] | None = None,
        info: Mapping[str, Any] | None = None,
        observations: Mapping[str, str | sp.Expr] | None = None,
    ) -> None:
        if isinstance(parameters, Mapping):
            parameters = list(parameters.values())
        params = list(parameters or ())
        self.parameters: dict[str, Parameter] = {p.name: p for p in params}
        self.library = FeatureLibrary(features, state_names, action_names, tuple(self.parameters))
        self.state_names: tuple[str, ...] = self.library.state_names
        self.action_names: tuple[str, ...] = self.library.action_names
        n_x, n_f = len(self.state_names), self.library.n_features
        rows = list(coefficients) if not isinstance(coefficients, np.ndarray) else coefficients
        if len(rows) != n_x or any(len(r) != n_f for r in rows):
            raise ShapeError(
                f"coefficients must have shape ({n_x}, {n_f}) (states x features). Got "
                f"{np.shape(np.asarray(coefficients, dtype=object))}."
            )
        numeric = isinstance(coefficients, np.ndarray) or all(
            isinstance(c, (int, float, np.number)) for r in rows for c in r
        )
        if numeric and not self.parameters:
            self._coef_exprs: list[list[sp.Expr]] | None = None
            self._coef = np.array(coefficients, dtype=np.float64).reshape(n_x, n_f)
        else:
            names = tuple(self.parameters)
            self._coef_exprs = [
                [parse_expression(c, names, what=f"coefficient of d({s})/dt") for c in r]
                for s, r in zip(self.state_names, rows, strict=False)
            ]
            self._coef = self._evaluate_coefs()
        self._mask = (
            self._coef != 0
            if self._coef_exprs is None
            else np.array(
                [[e.is_zero is not True for e in r] for r in self._coef_exprs], dtype=bool
            )
        )
        self.ensemble = None if ensemble is None else dict(ensemble)
        self.info: dict[str, Any] = dict(info or {})
        self.observations: dict[str, sp.Expr] = {}
        obs_names = self.state_names + tuple(self.parameters)
        for name, text in (observations or {}).items():
            name = str(name)
            from hybridwm.physics.expressions import valid_identifier

            if not valid_identifier(name):
                raise ConfigError(f"Observation name {name!r} is not a valid identifier.")
            if name in self.state_names or name in self.action_names or name in self.parameters:
                raise ConfigError(
                    f"Observation {name!r} has the name of a state, action or parameter; give "
                    f"the measured quantity its own name (e.g. {name + '_meas'!r})."
                )
            self.observations[name] = parse_expression(
                text, obs_names, what=f"observation equation for {name!r}"
            )

    @property
    def observation_names(self) -> tuple[str, ...]:
        """Names of the observation equations (empty if there are none)."""
        return tuple(self.observations)

    # ------------------------------------------------------------------ derived attributes
    def _evaluate_coefs(self) -> np.ndarray:
        exprs = self._coef_exprs or []
        n_x = len(self.state_names)
        if not self.parameters:
            return np.array([[float(e) for e in r] for r in exprs]).reshape(n_x, -1)
        flat = [e for r in exprs for e in r]
        fn = compile_expressions(flat, (tuple(self.parameters),), backend="numpy")
        p = np.array([q.value for q in self.parameters.values()], dtype=np.float64)
        return np.asarray(fn(p), dtype=np.float64).reshape(n_x, -1)

    @property
    def n_x(self) -> int:
        """Number of states."""
        return len(self.state_names)

    @property
    def n_u(self) -> int:
        """Number of actions."""
        return len(self.action_names)

    @property
    def feature_names(self) -> list[str]:
        """Readable feature names (columns of :attr:`coefficients`)."""
        return self.library.names

    @property
    def parameter_names(self) -> tuple[str, ...]:
        """Names of the declared parameters (empty for discovered models)."""
        return tuple(self.parameters)

    @property
    def parameter_values(self) -> dict[str, float]:
        """Current parameter values."""
        return {k: float(p.value) for k, p in self.parameters.items()}

    @property
    def coef_array(self) -> np.ndarray:
        """(n_x, n_features) numeric coefficients (a copy)."""
        return self._coef.copy()

    @property
    def coef_expressions(self) -> list[list[sp.Expr]]:
        """Coefficients as sympy expressions (numbers for discovered models)."""
        if self._coef_exprs is not None:
            return [list(r) for r in self._coef_exprs]
        return [[sp.Float(float(c)) if c != 0 else sp.Integer(0) for c in r] for r in self._coef]

    @property
    def mask(self) -> np.ndarray:
        """(n_x, n_features) bool: which terms are present (the sparsity pattern)."""
        return self._mask.copy()

    def _frame(self, values: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(
            values,
            index=pd.Index(list(self.state_names), name="state"),
            columns=pd.Index(self.feature_names, name="feature"),
        )

    @property
    def coefficients(self) -> pd.DataFrame:
        """Coefficients: one row per equation (indexed by state name, i.e. d(state)/dt) and one
        column per feature name."""
        return self._frame(self._coef.copy())

    def _ens(self, key: str) -> pd.DataFrame | None:
        if not self.ensemble:
            return None
        return self._frame(np.asarray(self.ensemble[key], dtype=np.float64))

    @property
    def coef_mean(self) -> pd.DataFrame | None:
        """Mean of each coefficient over the ensemble (None if not ensembled)."""
        return self._ens("coef_mean")

    @property
    def coef_std(self) -> pd.DataFrame | None:
        """Standard deviation of each coefficient over the ensemble (None if not ensembled)."""
        return self._ens("coef_std")

    @property
    def inclusion_probability(self) -> pd.DataFrame | None:
        """Fraction of ensemble models in which each term is nonzero (None if not ensembled)."""
        return self._ens("inclusion_probability")

    @property
    def n_terms(self) -> int:
        """Number of nonzero terms over all equations."""
        return int(self._mask.sum())

    # ------------------------------------------------------------------ copies
    def with_coefficients(self, coefficients: np.ndarray) -> PhysicsModel:
        """A copy with new numeric coefficients (discovered models), same features."""
        if self.parameters:
            raise ConfigError(
                "This model's coefficients are functions of its parameters "
                f"{list(self.parameters)}; change them with with_parameters(...)."
            )
        c = np.asarray(coefficients, dtype=np.float64)
        if c.shape != self._coef.shape:
            raise ShapeError(f"coefficients must have shape {self._coef.shape}. Got {c.shape}.")
        return PhysicsModel(
            self.state_names,
            self.action_names,
            self.library.exprs,
            c,
            ensemble=self.ensemble,
            info=self.info,
            observations=self.observations,
        )

    def with_parameters(self, **values: float) -> PhysicsModel:
        """A copy with some parameter values changed (declared priors)."""
        unknown = sorted(set(values) - set(self.parameters))
        if unknown:
            raise UnknownNameError(
                f"Unknown parameter(s) {unknown}. This model's parameters: {list(self.parameters)}."
            )
        params = []
        for name, p in self.parameters.items():
            v = float(values.get(name, p.value))
            params.append(Parameter(name, v, p.bounds, p.fixed))
        return PhysicsModel(
            self.state_names,
            self.action_names,
            self.library.exprs,
            self.coef_expressions,
            parameters=params,
            ensemble=self.ensemble,
            info=self.info,
            observations=self.observations,
        )

    # ------------------------------------------------------------------ printing
    def equations(self, precision: int = 4, *, symbolic: bool = False) -> list[str]:
        """One readable string per state, e.g. ``"d(omega)/dt = -9.81 sin(theta) - 0.1 omega"``.

        Args:
            precision: significant digits of the coefficients.
            symbolic: for declared priors, print coefficients as expressions of the parameters.
        """
        out = []
        exprs = self.coef_expressions if symbolic else None
        for i, s in enumerate(self.state_names):
            shared = None if exprs is not None else self._shared_denominator(i)
            names = self.feature_names if shared is None else shared[1]
            parts: list[str] = []
            for j, name in enumerate(names):
                if not self._mask[i, j]:
                    continue
                if exprs is not None and not exprs[i][j].is_Number:
                    coef_txt = f"({expr_name(exprs[i][j])})"
                    term = coef_txt if name == "1" else f"{coef_txt} {name}"
                    parts.append(("+ " if parts else "") + term)
                    continue
                c = float(self._coef[i, j])
                mag = _fmt(abs(c), precision)
                term = mag if name == "1" else f"{mag} {name}"
                if not parts:
                    parts.append(f"-{term}" if c < 0 else term)
                else:
                    parts.append(f"- {term}" if c < 0 else f"+ {term}")
            rhs = " ".join(parts) if parts else "0"
            if shared is not None:
                rhs = f"({rhs}) / ({expr_name(shared[0])})"
            out.append(f"d({s})/dt = " + rhs)
        return out

    def _shared_denominator(self, i: int) -> tuple[sp.Expr, list[str]] | None:
        """``(D, numerator names)`` when every active term of row ``i`` is ``numerator / D``
        with one and the same ``D`` (rational discovery), else None. The numerator names are
        given for every feature (inactive ones too), in library order."""
        cols = np.flatnonzero(self._mask[i])
        if not cols.size:
            return None
        fractions = [sp.fraction(e) for e in self.library.exprs]
        dens = {fractions[j][1] for j in cols}
        if len(dens) != 1:
            return None
        den = dens.pop()
        if den == 1 or not den.free_symbols:
            return None
        return den, [expr_name(num) for num, _ in fractions]

    def to_latex(self, precision: int = 4) -> str:
        """The equations as a LaTeX ``aligned`` block (numeric coefficients)."""
        lines = [eq.replace(" = ", " &= ", 1) for eq in self.latex_equations(precision)]
        return "\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}"

    def latex_equations(self, precision: int = 4) -> list[str]:
        """One LaTeX equation per state, e.g. ``\\dot{\\omega} = - 9.81\\,\\sin(\\theta)``
        (numeric coefficients), each usable on its own (``$$ ... $$``)."""
        lines = []
        for i, s in enumerate(self.state_names):
            shared = self._shared_denominator(i)
            if shared is None:
                lat = self.library.latex_names
            else:
                lat = [expr_latex(sp.fraction(e)[0]) for e in self.library.exprs]
            parts: list[str] = []
            for j in range(self.library.n_features):
                if not self._mask[i, j]:
                    continue
                c = float(self._coef[i, j])
                mag = _fmt(abs(c), precision)
                term = mag if lat[j] == "1" else f"{mag}\\,{lat[j]}"
                sign = "-" if c < 0 else ("+" if parts else "")
                parts.append(f"{sign} {term}".strip())
            lhs = f"\\dot{{{sp.latex(sp.Symbol(s))}}}"
            rhs = " ".join(parts) if parts else "0"
            if shared is not None:
                rhs = f"\\frac{{{rhs}}}{{{expr_latex(shared[0])}}}"
            lines.append(f"{lhs} = " + rhs)
        return lines

    def __repr__(self) -> str:
        kind = "declared" if self.parameters else "discovered"
        eqs = "\n  ".join(self.equations())
        return f"PhysicsModel({kind}, {self.n_terms} terms)\n  {eqs}"

    # ------------------------------------------------------------------ evaluation
    def _check_xu(self, x: Any, u: Any, what: str) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim < 1 or x.shape[-1] != self.n_x:
            raise ShapeError(
                f"`x` of {what} must have shape (..., {self.n_x}) for states "
                f"{list(self.state_names)}. Got {x.shape}."
            )
        if u is None:
            if self.n_u:
                raise ShapeError(
                    f"`u` of {what} is required: this model has actions {list(self.action_names)}."
                )
            u = np.zeros((*x.shape[:-1], 0))
        u = np.asarray(u, dtype=np.float64)
        if u.ndim < 1 or u.shape[-1] != self.n_u:
            raise ShapeError(
                f"`u` of {what} must have shape (..., {self.n_u}) for actions "
                f"{list(self.action_names)}. Got {u.shape}."
            )
        return x, u

    def _p(self) -> np.ndarray:
        return np.array([p.value for p in self.parameters.values()], dtype=np.float64)

    def predict(self, x: np.ndarray, u: np.ndarray | None = None) -> np.ndarray:
        """dx/dt at given states and actions.

        Args:
            x: (..., n_x) states.
            u: (..., n_u) actions (``None`` when the model has none); broadcast against ``x``.

        Returns:
            (..., n_x) time derivatives.
        """
        x, u = self._check_xu(x, u, "predict")
        return self.library.evaluate(x, u, self._p()) @ self._coef.T

    def simulate(
        self,
        x0: np.ndarray,
        u: np.ndarray | None,
        t: np.ndarray,
        *,
        substeps: int = 1,
    ) -> np.ndarray:
        """Integrate the equations with held actions (fixed-step RK4 on the sample grid).

        ``u[:, k]`` is held on ``[t[k], t[k+1])``; each interval is integrated with ``substeps``
        RK4 steps. All trajectories are advanced together (vectorised over the batch).

        Args:
            x0: (n, n_x) or (n_x,) initial states at ``t[0]``.
            u: (n, T, n_u) or (n, T-1, n_u) held actions ((T, n_u) when ``x0`` is 1-D);
                ``None`` when the model has no actions. The action at the last sample is unused.
            t: (T,) strictly increasing times.
            substeps: RK4 steps per sample interval.

        Returns:
            (n, T, n_x) states at ``t`` (``(T, n_x)`` when ``x0`` is 1-D); ``x[:, 0] = x0``.
            If the solution diverges, later samples are NaN and a warning is issued.
        """
        x0 = np.asarray(x0, dtype=np.float64)
        single = x0.ndim == 1
        x0b = x0[None] if single else x0
        if x0b.ndim != 2 or x0b.shape[1] != self.n_x:
            raise ShapeError(
                f"`x0` must have shape (n, {self.n_x}) or ({self.n_x},). Got {x0.shape}."
            )
        t = np.asarray(t, dtype=np.float64)
        if t.ndim != 1 or len(t) < 1 or (len(t) > 1 and (np.diff(t) <= 0).any()):
            raise ShapeError(f"`t` must be a strictly increasing 1-D array. Got shape {t.shape}.")
        T, n = len(t), x0b.shape[0]
        if substeps < 1:
            raise ConfigError(f"`substeps` must be >= 1. Got {substeps}.")
        if u is None:
            if self.n_u:
                raise ShapeError(
                    f"`u` of simulate is required: this model has actions {list(self.action_names)}."
                )
            ub = np.zeros((n, max(T - 1, 0), 0))
        else:
            ub = np.asarray(u, dtype=np.float64)
            if single:
                ub = ub[None]
            if (
                ub.ndim != 3
                or ub.shape[0] != n
                or ub.shape[2] != self.n_u
                or ub.shape[1] not in (T, T - 1)
            ):
                raise ShapeError(
                    f"`u` of simulate must have shape ({n}, {T}, {self.n_u}) (or {T - 1} steps) "
                    f"for actions {list(self.action_names)} and {T} times. Got {np.shape(u)}."
                )
        p = self._p()
        C = self._coef.T
        ev = self.library.evaluate

        def f(x: np.ndarray, uk: np.ndarray) -> np.ndarray:
            return ev(x, uk, p) @ C

        out = np.empty((n, T, self.n_x))
        out[:, 0] = x0b
        x = x0b.copy()
        with np.errstate(all="ignore"):
            for k in range(T - 1):
                uk = ub[:, k]
                h = (t[k + 1] - t[k]) / substeps
                for _ in range(substeps):
                    k1 = f(x, uk)
                    k2 = f(x + 0.5 * h * k1, uk)
                    k3 = f(x + 0.5 * h * k2, uk)
                    k4 = f(x + h * k3, uk)
                    x = x + (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
                out[:, k + 1] = x
        if not np.isfinite(out).all():
            warnings.warn(
                "PhysicsModel.simulate diverged (NaN/inf) for some trajectories; the equations "
                "may be unstable outside the training data, or the step too large (use substeps).",
                RuntimeWarning,
                stacklevel=2,
            )
            bad = ~np.isfinite(out)
            out[bad] = np.nan
        return out[0] if single else out

    def score(
        self,
        data: TrajectorySet,
        *,
        differentiation: Any = None,
        align: Any = None,
        per_state: bool = False,
    ) -> float | dict[str, float]:
        """R² of the model's derivatives against finite-difference derivatives of ``data``.

        The derivatives are estimated with the differentiation used to fit the model (recorded
        in ``info``; finite differences otherwise), and the regressors are aligned with the held
        actions the same way as in :func:`~hybridwm.physics.discover`.

        Args:
            data: trajectories with (at least) the model's states and actions.
            differentiation: override the differentiation method (name or pysindy object).
            align: override the alignment mode (``"actions"``, ``"all"``, ``"none"``).
            per_state: return ``{state: R²}`` instead of the mean over states.

        Returns:
            Mean R² over states (1 is perfect), or a dict per state.
        """
        from hybridwm.physics.derivatives import (
            _resolve_align,
            make_differentiation,
            regression_data,
        )

        info = self.info.get("differentiation", {}) if differentiation is None else {}
        method = make_differentiation(
            differentiation
            if differentiation is not None
            else info.get("name", "finite_difference"),
            **{
                k: v
                for k, v in info.get("options", {}).items()
                if k in ("order", "window", "polyorder")
            },
        )
        mode = _resolve_align(self.info.get("align", "actions") if align is None else align)
        xcols, ucols = self._columns_in(data)
        lib = self.library
        cols = lib.uses_actions if mode == "actions" else np.full(lib.n_features, mode == "all")
        p = self._p()

        def fn(x: np.ndarray, u: np.ndarray) -> np.ndarray:
            return lib.evaluate(x[:, xcols], u[:, ucols], p)

        reg = regression_data(data, fn, method, cols, state_columns=xcols)
        pred = reg.theta @ self._coef.T
        ss_res = ((reg.dx - pred) ** 2).sum(axis=0)
        ss_tot = ((reg.dx - reg.dx.mean(axis=0)) ** 2).sum(axis=0)
        r2 = 1.0 - ss_res / np.where(ss_tot > 0, ss_tot, 1.0)
        if per_state:
            return {s: float(v) for s, v in zip(self.state_names, r2, strict=False)}
        return float(np.mean(r2))

    def _columns_in(self, data: TrajectorySet) -> tuple[np.ndarray, np.ndarray]:
        missing = [s for s in self.state_names if s not in data.state_names]
        missing += [a for a in self.action_names if a not in data.action_names]
        if missing:
            raise UnknownNameError(
                f"The data lacks {missing}, which the model uses. The data has states "
                f"{list(data.state_names)} and actions {list(data.action_names)}."
            )
        xcols = np.array([data.state_names.index(s) for s in self.state_names], dtype=int)
        ucols = np.array([data.action_names.index(a) for a in self.action_names], dtype=int)
        return xcols, ucols

    # ------------------------------------------------------------------ torch
    def vector_field(
        self,
        trainable: bool = False,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> PhysicsVectorField:
        """The equations as a torch module ``forward(x, u) -> dx/dt`` (see ``torch_field``).

        Args:
            trainable: train the nonzero coefficients (discovered) or the free parameters
                (declared, with bounds enforced by reparametrisation); the mask stays fixed.
            dtype: dtype of the module (default ``torch.float64``).
            device: device of the module.
        """
        import torch

        from hybridwm.physics.torch_field import PhysicsVectorField

        return PhysicsVectorField(
            self, trainable=trainable, dtype=dtype or torch.float64, device=device
        )

    @classmethod
    def from_vector_field(cls, module: PhysicsVectorField) -> PhysicsModel:
        """A PhysicsModel with the (possibly trained) values of a vector-field module."""
        to_model = getattr(module, "to_physics_model", None)
        if to_model is None:
            raise ConfigError(
                f"Expected a module made by PhysicsModel.vector_field(); got {type(module).__name__}."
            )
        return to_model()  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ declared priors
    def fit_parameters(self, data: TrajectorySet, **kwargs: Any) -> PhysicsModel:
        """Fit the free parameters to ``data`` (see :func:`hybridwm.physics.fit_parameters`)."""
        from hybridwm.physics.priors import fit_parameters

        return fit_parameters(self, data, **kwargs)

    # ------------------------------------------------------------------ comparison
    def compare(self, true_equations: Any) -> pd.DataFrame:
        """Compare coefficients with known ones.

        Args:
            true_equations: ``{equation: {feature: coefficient}}``; equations keyed by state name
                or ``"d(state)/dt"``; features as expressions (matched to this model's features
                symbolically, so ``"cos(theta)*torque"`` matches ``"torque*cos(theta)"``). An
                object with a ``coefficients`` mapping of that form (e.g.
                ``get_system("pendulum").true_equations()``) is accepted too.

        Returns:
            One row per (state, feature) that is nonzero in either: ``true``, ``found``,
            ``abs_error``, ``rel_error`` (NaN where the true value is 0: a spurious term).
        """
        if not isinstance(true_equations, Mapping):
            coefficients = getattr(true_equations, "coefficients", None)
            if not isinstance(coefficients, Mapping):
                raise DataError(
                    f"`true_equations` of compare must be a mapping {{equation: {{feature: "
                    f"value}}}} or have such a `coefficients` attribute. Got "
                    f"{type(true_equations).__name__}."
                )
            true_equations = coefficients
        names = self.state_names + self.action_names + self.parameter_names
        index = {e: j for j, e in enumerate(self.library.exprs)}
        rows = []
        seen: set[tuple[int, int]] = set()
        for key, terms in true_equations.items():
            s = _state_of(key, self.state_names)
            i = self.state_names.index(s)
            for ftxt, val in terms.items():
                e = parse_expression(ftxt, names, what="true feature")
                j = index.get(e)
                if j is None:
                    j = next((jj for ee, jj in index.items() if sp.simplify(ee - e) == 0), None)
                found = 0.0 if j is None else float(self._coef[i, j])
                if j is not None:
                    seen.add((i, j))
                rows.append((s, expr_name(e), float(val), found))
        for i, j in zip(*np.nonzero(self._mask), strict=False):
            if (int(i), int(j)) not in seen:
                rows.append(
                    (self.state_names[i], self.feature_names[j], 0.0, float(self._coef[i, j]))
                )
        df = pd.DataFrame(rows, columns=["state", "feature", "true", "found"])
        df["abs_error"] = (df["found"] - df["true"]).abs()
        df["rel_error"] = np.where(
            df["true"] != 0, df["abs_error"] / df["true"].abs().where(df["true"] != 0, 1.0), np.nan
        )
        return df

    # ------------------------------------------------------------------ serialization
    def to_dict(self) -> dict[str, Any]:
        """The JSON document (see the module docstring)."""
        if self._coef_exprs is None:
            coefs: list[list[Any]] = self._coef.tolist()
        else:
            coefs = [[float(e) if e.is_Number else str(e) for e in r] for r in self._coef_exprs]
        out = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "state_names": list(self.state_names),
            "action_names": list(self.action_names),
            "parameters": [p.to_dict() for p in self.parameters.values()],
            "features": [str(e) for e in self.library.exprs],
            "coefficients": coefs,
            "ensemble": to_jsonable(self.ensemble) if self.ensemble else None,
            "info": to_jsonable(self.info),
        }
        if self.observations:
            out["observations"] = {k: str(v) for k, v in self.observations.items()}
        return out

    def to_json(self, indent: int | None = 2) -> str:
        """The model as a JSON string."""
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "physics JSON") -> PhysicsModel:
        """Build a model from :meth:`to_dict` output.

        Raises:
            FormatError: not a hybridwm physics document, or a required field is missing/invalid.
            IncompatibleVersionError: written by an incompatible format version.
        """
        if not isinstance(data, dict):
            raise FormatError(f"{source} must hold a JSON object; got {type(data).__name__}.")
        if data.get("format") != FORMAT:
            raise FormatError(
                f"{source} is not a hybridwm physics model: its 'format' is "
                f"{data.get('format')!r}, expected {FORMAT!r}."
            )
        if "format_version" not in data:
            raise FormatError(f"{source} has no 'format_version' field; it cannot be read safely.")
        version = data["format_version"]
        if version != FORMAT_VERSION:
            raise IncompatibleVersionError(
                f"{source} has format_version {version!r}, but this hybridwm reads version "
                f"{FORMAT_VERSION}. Re-create it with this version (hybridwm discover) or install "
                f"the hybridwm version that wrote it."
            )
        required = ["state_names", "action_names", "features", "coefficients"]
        missing = [k for k in required if k not in data]
        if missing:
            raise FormatError(
                f"{source} is missing required field(s) {missing}; a physics model needs "
                f"{required}. The file may be truncated or hand-edited."
            )
        try:
            params = [
                Parameter(
                    str(p["name"]),
                    float(p["value"]),
                    None if p.get("bounds") is None else tuple(p["bounds"]),  # type: ignore[arg-type]
                    bool(p.get("fixed", False)),
                )
                for p in data.get("parameters") or []
            ]
        except (KeyError, TypeError, ValueError) as exc:
            raise FormatError(
                f"{source} has an invalid 'parameters' entry ({exc!r}); each needs 'name' and 'value'."
            ) from None
        try:
            return cls(
                data["state_names"],
                data["action_names"],
                data["features"],
                data["coefficients"],
                parameters=params,
                ensemble=data.get("ensemble"),
                info=data.get("info") or {},
                observations=data.get("observations") or None,
            )
        except (HybridWMError, TypeError, ValueError) as exc:
            raise FormatError(f"{source} is invalid: {exc}") from None

    @classmethod
    def from_json(cls, text: str) -> PhysicsModel:
        """Inverse of :meth:`to_json`."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise FormatError(f"physics JSON is not valid JSON: {exc}.") from None
        return cls.from_dict(data)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the model as JSON, atomically (a crash never leaves a half-written file)."""
        return atomic_write_text(path, self.to_json() + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> PhysicsModel:
        """Read a model written by :meth:`save`."""
        p = Path(path)
        if not p.is_file():
            raise FormatError(f"Physics model file {str(p)!r} does not exist.")
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise FormatError(f"{str(p)!r} is not valid JSON: {exc}.") from None
        return cls.from_dict(data, source=repr(str(p)))


def _state_of(key: str, states: Sequence[str]) -> str:
    from hybridwm.physics.priors import parse_lhs

    k = key.strip()
    if k in states:
        return k
    s = parse_lhs(k)
    if s is None or s not in states:
        raise UnknownNameError(f"Equation key {key!r} names no state of the model {list(states)}.")
    return s
