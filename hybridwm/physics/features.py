"""Feature libraries: candidate terms for SINDy, each defined once as a sympy expression.

A :class:`FeatureLibrary` is an ordered list of expressions over named states and actions (and,
for declared priors, parameters). The same expressions give the numpy matrix pysindy's
optimizers regress on, the torch features of the differentiable vector field, the readable
names used in ``equations()`` and the LaTeX of ``to_latex()``.

Built-in families (registry :data:`LIBRARIES`, names for ``--library``):

* ``"poly"``: monomials of the states up to ``degree`` (with the constant ``1``).
* ``"trig"``: ``sin`` and ``cos`` of each angle, the other states linearly, and ``1``.
* ``"trig-poly"``: products of monomials of the non-angle states (up to ``degree``) with
  ``1, sin(a), cos(a)`` of the angles and their pairwise products (``trig_degree``, default 2;
  ``cos(a)^2`` is left out since ``cos^2 = 1 - sin^2`` would make the library collinear).
* ``"linear"``: the states and ``1``.
* ``"none"``: no state features, for a library given whole by ``features=[...]`` (the actions
  and ``action_products`` are still added as below).

Controls never pass through the state families (no ``sin(u)``): each action enters linearly,
and multiplied by each state feature named in ``action_products`` (e.g. ``["cos(theta)"]`` gives
``torque*cos(theta)``). Any custom expression can be appended with ``features=[...]``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import sympy as sp

from hybridwm.data.checks import first_missing
from hybridwm.errors import ConfigError, DiscoveryError, UnknownNameError
from hybridwm.physics.codegen import HoistedFunctions, compile_hoisted
from hybridwm.physics.expressions import (
    compile_expressions,
    expr_latex,
    expr_name,
    parse_expression,
    valid_identifier,
)
from hybridwm.registry import Registry

__all__ = [
    "LIBRARIES",
    "FeatureLibrary",
    "guess_angles",
    "make_library",
]


class FeatureLibrary:
    """An ordered set of candidate features over named states and actions.

    Args:
        features: expressions as text (``"u0*cos(theta)"``, ``"sqrt(h1)"``) or sympy expressions.
        state_names: names of the state columns the expressions may use.
        action_names: names of the action columns (may be empty).
        parameter_names: names of parameters (declared priors only).

    Raises:
        UnknownNameError: a feature uses a name that is not a state, action or parameter.
        ParseError: a feature's text is not a valid expression.
        ConfigError: two features are the same expression, or the library is empty.
    """

    def __init__(
        self,
        features: Sequence[str | sp.Expr],
        state_names: Sequence[str],
        action_names: Sequence[str] = (),
        parameter_names: Sequence[str] = (),
    ) -> None:
        self.state_names = tuple(state_names)
        self.action_names = tuple(action_names)
        self.parameter_names = tuple(parameter_names)
        names = self.state_names + self.action_names + self.parameter_names
        for n in names:
            if not valid_identifier(n):
                raise ConfigError(
                    f"Name {n!r} cannot be used in feature expressions: names must be Python "
                    f"identifiers that are not keywords or function names (sin, cos, ...). "
                    f"Rename the column, e.g. {('x_' + n) if n.isidentifier() else 'x0'!r}."
                )
        if len(set(names)) != len(names):
            raise ConfigError(f"State, action and parameter names must be distinct. Got {names}.")
        kinds = {n: "state" for n in self.state_names}
        kinds.update({n: "action" for n in self.action_names})
        kinds.update({n: "parameter" for n in self.parameter_names})
        exprs = [parse_expression(f, names, what="feature", kinds=kinds) for f in features]
        seen: dict[sp.Expr, int] = {}
        for i, e in enumerate(exprs):
            if e in seen:
                raise ConfigError(
                    f"Feature {i} ({expr_name(e)!r}) duplicates feature {seen[e]}; remove one."
                )
            seen[e] = i
        self.exprs: tuple[sp.Expr, ...] = tuple(exprs)
        action_syms = {sp.Symbol(a, real=True) for a in self.action_names}
        self.uses_actions = np.array([bool(e.free_symbols & action_syms) for e in exprs], bool)
        # generated functions by (kind, columns): "numpy", "torch" or "hoisted", None = all
        self._compiled: dict[tuple[str, tuple[int, ...] | None], Any] = {}

    def __getstate__(self) -> dict[str, Any]:  # generated functions are rebuilt on demand
        state = self.__dict__.copy()
        state.update(_compiled={})
        return state

    # ------------------------------------------------------------------ description
    @property
    def n_features(self) -> int:
        """Number of features."""
        return len(self.exprs)

    def __len__(self) -> int:
        return len(self.exprs)

    @property
    def names(self) -> list[str]:
        """Readable names, e.g. ``["1", "sin(theta)", "omega^2*sin(theta)", "torque"]``."""
        return [expr_name(e) for e in self.exprs]

    @property
    def latex_names(self) -> list[str]:
        """LaTeX of each feature."""
        return [expr_latex(e) for e in self.exprs]

    def used_names(self) -> set[str]:
        """Names of the states/actions/parameters that at least one feature uses."""
        return {str(s) for e in self.exprs for s in e.free_symbols}

    def __repr__(self) -> str:
        return f"FeatureLibrary({self.names}, states={list(self.state_names)}, actions={list(self.action_names)})"

    # ------------------------------------------------------------------ binding to data
    def rebind(self, state_names: Sequence[str], action_names: Sequence[str]) -> FeatureLibrary:
        """The same features over other column names/orders (e.g. those of a data set).

        Raises:
            UnknownNameError: a feature uses a state or action the new names lack.
        """
        state_names, action_names = tuple(state_names), tuple(action_names)
        if state_names == self.state_names and action_names == self.action_names:
            return self
        available = set(state_names) | set(action_names) | set(self.parameter_names)
        for name, e in zip(self.names, self.exprs, strict=False):
            missing = sorted(str(s) for s in e.free_symbols if str(s) not in available)
            if missing:
                raise UnknownNameError(
                    f"Feature {name!r} uses {missing}, which the data lacks. The data has states "
                    f"{list(state_names)} and actions {list(action_names)}; rename the columns or "
                    f"build the library with these names."
                )
        return FeatureLibrary(self.exprs, state_names, action_names, self.parameter_names)

    def with_features(self, features: Sequence[str | sp.Expr]) -> FeatureLibrary:
        """A library with ``features`` appended (duplicates of existing ones are skipped)."""
        names = self.state_names + self.action_names + self.parameter_names
        extra = [parse_expression(f, names, what="feature") for f in features]
        exprs = list(self.exprs) + [e for e in extra if e not in self.exprs]
        return FeatureLibrary(exprs, self.state_names, self.action_names, self.parameter_names)

    # ------------------------------------------------------------------ evaluation
    def evaluate(
        self, x: np.ndarray, u: np.ndarray | None = None, p: np.ndarray | None = None
    ) -> np.ndarray:
        """Evaluate all features with numpy.

        Args:
            x: (..., n_x) states, columns in ``state_names`` order.
            u: (..., n_u) actions (``None`` when there are none).
            p: (n_p,) parameter values (declared priors only).

        Returns:
            (..., n_features) feature values.
        """
        return self._compile("numpy", None)(*self._args(x, u, p))  # type: ignore[no-any-return]

    def evaluate_subset(
        self,
        columns: Sequence[int],
        x: np.ndarray,
        u: np.ndarray | None = None,
        p: np.ndarray | None = None,
    ) -> np.ndarray:
        """Evaluate only the features at ``columns``: (..., len(columns))."""
        return self._compile("numpy", columns)(*self._args(x, u, p))  # type: ignore[no-any-return]

    def torch_function(self, columns: Sequence[int] | None = None) -> Callable[..., Any]:
        """Torch version of :meth:`evaluate` (of :meth:`evaluate_subset` given ``columns``):
        ``f(x, u, p) -> (..., n_features)`` (or (..., len(columns))) tensors."""
        return self._compile("torch", columns)  # type: ignore[no-any-return]

    def torch_hoisted(self, columns: Sequence[int] | None = None) -> HoistedFunctions:
        """:meth:`torch_function` in two parts (see :func:`~hybridwm.physics.codegen.
        compile_hoisted`): ``prepare(p)`` computes what depends on the parameters alone, once
        per parameter values; ``evaluate(x, u, prepare(p))`` equals ``torch_function(columns)(x,
        u, p)``."""
        return self._compile("hoisted", columns)  # type: ignore[no-any-return]

    def _compile(self, kind: str, columns: Sequence[int] | None) -> Any:
        """The generated function of ``kind`` for the features at ``columns`` (None: all)."""
        key = (kind, None if columns is None else tuple(int(c) for c in columns))
        if key not in self._compiled:
            exprs = self.exprs if key[1] is None else [self.exprs[c] for c in key[1]]
            if kind == "hoisted":
                fn = compile_hoisted(exprs, *self._groups())
            else:
                fn = compile_expressions(exprs, self._groups(), backend=kind)
            self._compiled[key] = fn
        return self._compiled[key]

    def _groups(self) -> tuple[tuple[str, ...], ...]:
        return (self.state_names, self.action_names, self.parameter_names)

    def _args(self, x: Any, u: Any, p: Any) -> tuple[Any, Any, Any]:
        x = np.asarray(x, dtype=np.float64)
        if u is None:
            u = np.zeros((*x.shape[:-1], 0))
        if p is None:
            p = np.zeros(0)
        return x, np.asarray(u, dtype=np.float64), np.asarray(p, dtype=np.float64)

    def check_finite(self, theta: np.ndarray, *, where: str = "") -> None:
        """Raise :class:`DiscoveryError` naming the first feature and row that is NaN/inf.

        Args:
            theta: (N, n_features) evaluated features.
            where: description of the rows, e.g. ``"trajectory 3"``.
        """
        found = first_missing(theta)
        if found is not None:
            raise DiscoveryError(
                f"Feature {self.names[found.column]!r} is {found.kind} at row {found.row}"
                f"{' of ' + where if where else ''}. "
                f"Its expression is not defined on the data (e.g. sqrt or log of a negative "
                f"value); drop the feature, guard it (sqrt(abs(h))) or clean the data."
            )

    # ------------------------------------------------------------------ pysindy bridge
    def to_pysindy(self) -> Any:
        """An equivalent ``pysindy.CustomLibrary`` over the columns ``[states, actions]``.

        The library computes exactly these features from pysindy's concatenated ``[x, u]``
        (one function of all columns per feature), so a ``pysindy.SINDy`` fitted with it is the
        same model as the one :func:`~hybridwm.physics.discover` returns. Only libraries without
        parameters can be converted.
        """
        import pysindy as ps

        if self.parameter_names:
            raise ConfigError("A library with parameters cannot be converted to pysindy.")
        cols = self.state_names + self.action_names
        funcs = [compile_column_function(e, cols) for e in self.exprs]
        names = [(lambda *_a, _n=n: _n) for n in self.names]
        return ps.CustomLibrary(library_functions=funcs, function_names=names, include_bias=False)

    # ------------------------------------------------------------------ serialization
    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible description (expressions as parseable text)."""
        return {
            "features": [str(e) for e in self.exprs],
            "state_names": list(self.state_names),
            "action_names": list(self.action_names),
            "parameter_names": list(self.parameter_names),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureLibrary:
        """Inverse of :meth:`to_dict`."""
        return cls(
            data["features"],
            data["state_names"],
            data.get("action_names", ()),
            data.get("parameter_names", ()),
        )


def compile_column_function(expr: sp.Expr, cols: Sequence[str]) -> Callable[..., np.ndarray]:
    """A numpy function with one positional argument per column (as pysindy's CustomLibrary wants)."""
    inner = compile_expressions([expr], (tuple(cols),), backend="numpy")
    args = ", ".join(f"c{i}" for i in range(len(cols)))
    src = f"def _col({args}):\n    return _inner(_np.stack([{args}], -1))[..., 0]\n"
    ns: dict[str, Any] = {"_inner": inner, "_np": np}
    exec(compile(src, "<hybridwm.physics column>", "exec"), ns)
    return ns["_col"]  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------- built-in families
ANGLE_PREFIXES = ("theta", "phi", "psi", "alpha", "beta", "angle", "q")


def guess_angles(state_names: Sequence[str]) -> tuple[str, ...]:
    """States whose names look like angles (``theta``, ``theta1``, ``phi``, ``*angle*``)."""
    out = []
    for n in state_names:
        low = n.lower()
        if "angle" in low or any(
            low == p or (low.startswith(p) and low[len(p) :].lstrip("_").isdigit())
            for p in ANGLE_PREFIXES
        ):
            out.append(n)
    return tuple(out)


def _monomials(syms: Sequence[sp.Symbol], degree: int) -> list[sp.Expr]:
    out: list[sp.Expr] = []
    for d in range(degree + 1):
        for combo in itertools.combinations_with_replacement(syms, d):
            out.append(sp.Mul(*combo))
    return out


def _trig_monomials(angles: Sequence[sp.Symbol], degree: int) -> list[sp.Expr]:
    base = [f(a) for a in angles for f in (sp.sin, sp.cos)]
    out: list[sp.Expr] = []
    for d in range(degree + 1):
        for combo in itertools.combinations_with_replacement(base, d):
            m = sp.Mul(*combo)
            # cos(a)^2 = 1 - sin(a)^2: keep the library free of this exact collinearity
            if any(combo.count(sp.cos(a)) >= 2 for a in angles):
                continue
            out.append(m)
    return out


def make_library(
    name: str,
    state_names: Sequence[str],
    action_names: Sequence[str] = (),
    *,
    angles: Sequence[str] | None = None,
    degree: int = 2,
    trig_degree: int = 2,
    include_bias: bool = True,
    action_products: Sequence[str] | None = None,
    features: Sequence[str] = (),
) -> FeatureLibrary:
    """Build a named library (see the module docstring) for the given state/action names.

    Args:
        name: one of :data:`LIBRARIES` (``"poly"``, ``"trig"``, ``"trig-poly"``, ``"linear"``,
            ``"none"``).
        state_names: the data's state names.
        action_names: the data's action names.
        angles: states treated as angles (``sin``/``cos``); default: names that look like angles
            (:func:`guess_angles`). Only used by ``"trig"`` and ``"trig-poly"``.
        degree: polynomial degree in the (non-angle) states.
        trig_degree: degree of products of ``sin``/``cos`` (``"trig-poly"``).
        include_bias: include the constant feature ``1``.
        action_products: state features (expressions) that each action multiplies, e.g.
            ``["cos(theta)"]``; default none (actions enter linearly only).
        features: extra custom expressions over state and action names.

    Returns:
        The library, with features in a deterministic order.
    """
    builder = LIBRARIES[name]
    state_names, action_names = tuple(state_names), tuple(action_names)
    if degree < 0 or trig_degree < 0:
        raise ConfigError(f"degree and trig_degree must be >= 0. Got {degree}, {trig_degree}.")
    if angles is not None:
        unknown = [a for a in angles if a not in state_names]
        if unknown:
            raise UnknownNameError(
                f"angles {unknown} are not states of the data. Available states: {list(state_names)}."
            )
    exprs = builder(state_names, tuple(angles) if angles is not None else None, degree, trig_degree)
    if not include_bias:
        exprs = [e for e in exprs if e != 1]
    names = state_names + action_names
    acts = [sp.Symbol(a, real=True) for a in action_names]
    exprs = list(exprs) + list(acts)
    for prod in action_products or ():
        g = parse_expression(prod, names, what="action product")
        for a in acts:
            exprs.append(a * g)
    lib = FeatureLibrary(_dedupe(exprs), state_names, action_names)
    return lib.with_features(features) if features else lib


def _dedupe(exprs: Sequence[sp.Expr]) -> list[sp.Expr]:
    out: list[sp.Expr] = []
    for e in exprs:
        if e not in out:
            out.append(e)
    return out


def _angles_or_guess(
    states: tuple[str, ...], angles: tuple[str, ...] | None, lib: str
) -> tuple[str, ...]:
    if angles is None:
        angles = guess_angles(states)
        if not angles:
            raise ConfigError(
                f"Library {lib!r} needs angles but none of the states {list(states)} looks like "
                f"one; pass angles=[...] (CLI: --angles)."
            )
    return angles


def _poly(states: tuple[str, ...], angles: Any, degree: int, trig_degree: int) -> list[sp.Expr]:
    return _monomials([sp.Symbol(s, real=True) for s in states], degree)


def _linear(states: tuple[str, ...], angles: Any, degree: int, trig_degree: int) -> list[sp.Expr]:
    return _monomials([sp.Symbol(s, real=True) for s in states], 1)


def _none(states: tuple[str, ...], angles: Any, degree: int, trig_degree: int) -> list[sp.Expr]:
    return []


def _trig(states: tuple[str, ...], angles: Any, degree: int, trig_degree: int) -> list[sp.Expr]:
    angles = _angles_or_guess(states, angles, "trig")
    out: list[sp.Expr] = [sp.Integer(1)]
    for s in states:
        sym = sp.Symbol(s, real=True)
        out.extend([sp.sin(sym), sp.cos(sym)] if s in angles else [sym])
    return out


def _trig_poly(
    states: tuple[str, ...], angles: Any, degree: int, trig_degree: int
) -> list[sp.Expr]:
    angles = _angles_or_guess(states, angles, "trig-poly")
    others = [sp.Symbol(s, real=True) for s in states if s not in angles]
    polys = _monomials(others, degree)
    trigs = _trig_monomials([sp.Symbol(a, real=True) for a in angles], trig_degree)
    return [p * t for p in polys for t in trigs]


LIBRARIES: Registry[Callable[..., list[sp.Expr]]] = Registry("feature library", "library")
LIBRARIES.register("poly", _poly)
LIBRARIES.register("linear", _linear)
LIBRARIES.register("none", _none)
LIBRARIES.register("trig", _trig)
LIBRARIES.register("trig-poly", _trig_poly)
