"""Equations: the data of ``dx/dt = Theta(x, u; p) @ C(p).T`` (terms, coefficients, parameters).

An :class:`Equations` value is a :class:`~hybridwm.physics.features.FeatureLibrary` (the terms
``Theta``), a coefficient matrix ``C`` of shape (n_x, n_features) and, for declared priors, named
:class:`~hybridwm.physics.parameter.Parameter` s ``p`` that the coefficients (and possibly the
features) depend on, plus optional observation equations ``y = h(x, p)``. Discovered equations
have plain numbers as coefficients; declared ones have expressions such as ``-w0**2``.

It is the part of :class:`~hybridwm.physics.PhysicsModel` that everything else in this package
reads (the torch form, parameter fitting, printing, comparison, the JSON document), so those
modules depend on this one and :mod:`~hybridwm.physics.model` sits on top of them all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import sympy as sp

from hybridwm.data.names import NamedSignals
from hybridwm.errors import ConfigError, ShapeError, UnknownNameError
from hybridwm.physics.expressions import compile_expressions, parse_expression, valid_identifier
from hybridwm.physics.features import FeatureLibrary
from hybridwm.physics.parameter import Parameter

__all__ = ["Equations"]

E = TypeVar("E", bound="Equations")


class Equations(NamedSignals):
    """Equations ``dx/dt = Theta(x, u; p) @ C(p).T`` with named states, actions and parameters.

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

    Raises:
        ShapeError: ``coefficients`` is not (n_x, n_f).
        ConfigError: an observation name is not an identifier or is taken by a state, action
            or parameter.
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
        self._set_coefficients(coefficients)
        self.ensemble = None if ensemble is None else dict(ensemble)
        self.info: dict[str, Any] = dict(info or {})
        self.observations: dict[str, sp.Expr] = self._parse_observations(observations or {})

    def _set_coefficients(self, coefficients: Any) -> None:
        """Check the shape of ``coefficients`` and store them as numbers (``_coef``), as
        expressions of the parameters (``_coef_exprs``, None when all are plain numbers of a
        model without parameters) and as the sparsity pattern (``_mask``)."""
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
            self._mask = self._coef != 0
            return
        names = tuple(self.parameters)
        self._coef_exprs = [
            [parse_expression(c, names, what=f"coefficient of d({s})/dt") for c in r]
            for s, r in zip(self.state_names, rows, strict=False)
        ]
        self._coef = self._evaluate_coefs()
        self._mask = np.array(
            [[e.is_zero is not True for e in r] for r in self._coef_exprs], dtype=bool
        )

    def _parse_observations(self, observations: Mapping[str, str | sp.Expr]) -> dict[str, sp.Expr]:
        """The observation equations as expressions over the states and parameters."""
        out: dict[str, sp.Expr] = {}
        obs_names = self.state_names + tuple(self.parameters)
        for name, text in observations.items():
            name = str(name)
            if not valid_identifier(name):
                raise ConfigError(f"Observation name {name!r} is not a valid identifier.")
            if name in self.state_names or name in self.action_names or name in self.parameters:
                raise ConfigError(
                    f"Observation {name!r} has the name of a state, action or parameter; give "
                    f"the measured quantity its own name (e.g. {name + '_meas'!r})."
                )
            out[name] = parse_expression(text, obs_names, what=f"observation equation for {name!r}")
        return out

    def _evaluate_coefs(self) -> np.ndarray:
        exprs = self._coef_exprs or []
        n_x = len(self.state_names)
        if not self.parameters:
            return np.array([[float(e) for e in r] for r in exprs]).reshape(n_x, -1)
        flat = [e for r in exprs for e in r]
        fn = compile_expressions(flat, (tuple(self.parameters),), backend="numpy")
        return np.asarray(fn(self.parameter_array()), dtype=np.float64).reshape(n_x, -1)

    # ------------------------------------------------------------------ derived attributes
    @property
    def observation_names(self) -> tuple[str, ...]:
        """Names of the observation equations (empty if there are none)."""
        return tuple(self.observations)

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

    def parameter_array(self) -> np.ndarray:
        """(n_p,) current parameter values in :attr:`parameter_names` order (empty if none)."""
        return np.array([p.value for p in self.parameters.values()], dtype=np.float64)

    @property
    def coef_array(self) -> np.ndarray:
        """(n_x, n_features) numeric coefficients (a copy)."""
        return self._coef.copy()

    @property
    def has_symbolic_coefficients(self) -> bool:
        """True when the coefficients are held as expressions (declared priors, or read from
        text), False when they are plain numbers (discovered equations)."""
        return self._coef_exprs is not None

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
    def with_coefficients(self: E, coefficients: np.ndarray) -> E:
        """A copy with new numeric coefficients (discovered models), same features.

        Args:
            coefficients: (n_x, n_features) the new coefficients.
        """
        if self.parameters:
            raise ConfigError(
                "This model's coefficients are functions of its parameters "
                f"{list(self.parameters)}; change them with with_parameters(...)."
            )
        c = np.asarray(coefficients, dtype=np.float64)
        if c.shape != self._coef.shape:
            raise ShapeError(f"coefficients must have shape {self._coef.shape}. Got {c.shape}.")
        return type(self)(
            self.state_names,
            self.action_names,
            self.library.exprs,
            c,
            ensemble=self.ensemble,
            info=self.info,
            observations=self.observations,
        )

    def with_parameters(self: E, **values: float) -> E:
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
        return type(self)(
            self.state_names,
            self.action_names,
            self.library.exprs,
            self.coef_expressions,
            parameters=params,
            ensemble=self.ensemble,
            info=self.info,
            observations=self.observations,
        )
