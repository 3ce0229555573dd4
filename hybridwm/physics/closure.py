"""Closure: the terms a declared prior misses, read off a trained residual as equations.

A hybrid's residual ``f_nn(x, u)`` learns what the declared physics lacks (a hinge damping, a
rail friction). Inside the training data it is accurate; off the data a network has no reason
to follow the law, and the support gate closes it there, so the hybrid falls back on physics
that still lacks the term (measured: the pendulum prior without its damping was 1.8 decades
worse than the learned model on near-inverted starts with the residual gated off). When the
missing term is a simple law, it can be written down instead: regress the residual's values at
the training states on a generic library of candidate terms (sparse, chosen on held-out
trajectories with the one-standard-error rule of :mod:`hybridwm.physics.selection`), and add
the terms to the prior as new named parameters (``closure_omega_1 * omega``) that train with
the physical ones. This is the "universal differential equation" route of Rackauckas et al.
(2020, arXiv:2001.04385): a network finds the missing part, sparse regression names it.

A force the prior lacks (a joint's friction) reaches a rigid body's accelerations through the
inverse mass matrix, which a prior written in closed form carries as the denominators of its
equations. In an equation with a state-dependent denominator, the library's candidates are
therefore divided by it (at the prior's current parameters, which keep training):
the cart-pole's rail and hinge damping become ``v/D(theta)``, ``omega*cos(theta)/D(theta)``, ...,
exact terms where a polynomial in sines and cosines is only an approximation. The residual after
a first stage of training also holds what the parameters have not yet fitted; each equation's
regression therefore runs on what the prior's own terms leave of the residual and of the
candidates, so that a closure term never stands in for a parameter.

A row is closed only when its held-out R² reaches ``min_r2``: a residual that no sparse
combination of the library explains (saturation, a motor lag) is left to the network. The
closed prior is again a declared :class:`~hybridwm.physics.PhysicsModel`, so it prints, saves,
simulates and trains like the user's, and ``info["closure"]`` records what was added and why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy as sp

from hybridwm.errors import ConfigError, ShapeError
from hybridwm.physics.expressions import expr_name
from hybridwm.physics.features import FeatureLibrary, make_library
from hybridwm.physics.model import PhysicsModel
from hybridwm.physics.parameter import Parameter
from hybridwm.physics.selection import elimination_path, fold_ids, select_sparse

__all__ = ["CLOSURE_PREFIX", "MIN_SHARE", "Closure", "close_prior", "fit_closure"]

#: prefix of the parameters a closure adds (``closure_<state>_<n>``)
CLOSURE_PREFIX = "closure"
#: a row is closed only when its residual is at least this fraction of the row's derivative
#: (RMS over the rows given). A smooth network output is fitted well by a library however small
#: it is: on the cart-pole prior without friction, the residuals of ``d(x)/dt = v`` and
#: ``d(theta)/dt = omega`` were 0.1-0.3 % of those derivatives (what the network's own error and
#: the parameters' trade-offs leave), and five or six terms fitted them to held-out R² 0.91-0.95.
MIN_SHARE = 0.01


@dataclass
class Closure:
    """What :func:`fit_closure` found.

    Attributes:
        state_names: the ``n_x`` equations (the prior's states).
        library: the candidate terms (``k`` features over states and actions; those divided
            by a denominator of the prior also use its parameters).
        coef: (n_x, k) the chosen coefficients of each equation's closure, zero in rows that
            were not accepted.
        r2: (n_x,) held-out R² of each row's chosen sparse fit of the residual (NaN where the
            residual is identically zero).
        accepted: (n_x,) True where the row is closed (``r2 >= min_r2`` and ``share >=``
            :data:`MIN_SHARE`).
        min_r2: the acceptance threshold used.
        table: the selection table (one dict per equation and candidate size).
        share: (n_x,) RMS of what the prior's own terms of each row leave of its residual,
            over RMS of the row's derivative (prior + residual); rows under :data:`MIN_SHARE`
            are not closed.
        source: what the residual values were read from (``"residual"`` as given; a hybrid's
            fit says ``"network"`` or ``"differences"``, see :mod:`hybridwm.models.closure`).
    """

    state_names: tuple[str, ...]
    library: FeatureLibrary
    coef: np.ndarray
    r2: np.ndarray
    accepted: np.ndarray
    min_r2: float
    table: list[dict[str, Any]] = field(default_factory=list)
    share: np.ndarray | None = None
    source: str = "residual"

    @property
    def found(self) -> bool:
        """True when at least one row is closed by at least one term."""
        return bool(np.any(self.coef != 0))

    def terms(self) -> dict[str, list[tuple[str, float]]]:
        """``{state: [(feature name, coefficient), ...]}`` of the accepted rows."""
        names = self.library.names
        return {
            s: [(names[j], float(self.coef[i, j])) for j in np.flatnonzero(self.coef[i])]
            for i, s in enumerate(self.state_names)
            if self.accepted[i]
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible summary (``terms``, ``r2``, ``accepted``, ``share``, ``min_r2``,
        ``source``)."""
        return {
            "terms": {s: [[n, c] for n, c in t] for s, t in self.terms().items()},
            "r2": {
                s: None if not np.isfinite(r) else float(r)
                for s, r in zip(self.state_names, self.r2, strict=True)
            },
            "accepted": [s for s, a in zip(self.state_names, self.accepted, strict=True) if a],
            "share": None
            if self.share is None
            else {s: float(v) for s, v in zip(self.state_names, self.share, strict=True)},
            "min_r2": self.min_r2,
            "source": self.source,
        }


def _check_arrays(
    physics: PhysicsModel, x: Any, u: Any, residual: Any, groups: Any
) -> tuple[np.ndarray, ...]:
    """The four arrays as float/int numpy arrays with matching rows, or ShapeError."""
    x = np.asarray(x, dtype=np.float64)
    residual = np.asarray(residual, dtype=np.float64)
    n_x, n_u = len(physics.state_names), len(physics.action_names)
    u = np.zeros((len(x), 0)) if u is None and n_u == 0 else np.asarray(u, dtype=np.float64)
    groups = np.asarray(groups)
    for name, a, width in (("x", x, n_x), ("u", u, n_u), ("residual", residual, n_x)):
        if a.ndim != 2 or a.shape[1] != width:
            raise ShapeError(
                f"`{name}` of fit_closure must have shape (N, {width}) (the prior's "
                f"{'actions' if name == 'u' else 'states'}). Got {a.shape}."
            )
    n = len(x)
    if len(u) != n or len(residual) != n or groups.shape != (n,):
        raise ShapeError(
            f"`x`, `u`, `residual` and `groups` of fit_closure need the same N rows. Got "
            f"{len(x)}, {len(u)}, {len(residual)} and {groups.shape}."
        )
    for name, a in (("x", x), ("u", u), ("residual", residual)):
        if not np.all(np.isfinite(a)):
            raise ShapeError(f"`{name}` of fit_closure holds NaN or inf; drop those rows first.")
    return x, u, residual, groups


def _check_options(physics: PhysicsModel, degree: Any, min_r2: Any, folds: Any) -> None:
    """ConfigError unless ``physics`` has parameters and the options are in range."""
    if not physics.parameters:
        raise ConfigError(
            "fit_closure completes a declared prior (equations with named parameters); "
            "`physics` has none. Declare the equations with hybridwm.physics.declare(...)."
        )
    if not (isinstance(degree, int) and degree >= 1):
        raise ConfigError(f"`degree` of fit_closure must be an integer >= 1. Got {degree!r}.")
    if not 0 < min_r2 < 1:
        raise ConfigError(f"`min_r2` of fit_closure must lie in (0, 1). Got {min_r2!r}.")
    if not (isinstance(folds, int) and folds >= 2):
        raise ConfigError(f"`folds` of fit_closure must be an integer >= 2. Got {folds!r}.")


def fit_closure(
    physics: PhysicsModel,
    x: Any,
    u: Any,
    residual: Any,
    groups: Any,
    *,
    angles: Sequence[str] = (),
    degree: int = 2,
    min_r2: float = 0.9,
    folds: int = 5,
    seed: int = 0,
) -> Closure:
    """Sparse equations for a residual's values (see the module docstring).

    Args:
        physics: the declared prior the residual completes (its states and actions name the
            columns below).
        x: (N, n_x) states, columns in ``physics.state_names`` order.
        u: (N, n_u) actions in ``physics.action_names`` order (None when n_u = 0).
        residual: (N, n_x) the residual's value ``f_nn(x, u)`` at each row, in the units of
            ``dx/dt``.
        groups: (N,) the trajectory each row comes from: held-out folds leave out whole
            trajectories.
        angles: angle states (``sin``/``cos`` in the library, ``"trig-poly"``); none: the
            polynomial library ``"poly"``.
        degree: polynomial degree of the library in the non-angle states (>= 1).
        min_r2: a row is closed when the held-out R² of its chosen fit reaches this (in (0, 1)).
        folds: held-out folds (>= 2).
        seed: seed of the assignment of trajectories to folds.

    Returns:
        The :class:`Closure` (``found`` False when no row qualified).

    Raises:
        ConfigError: ``physics`` has no declared parameters, or ``degree``, ``min_r2`` or
            ``folds`` is out of range.
        ShapeError: an array has the wrong shape or holds NaN/inf.
        DataError: fewer rows than folds.
    """
    _check_options(physics, degree, min_r2, folds)
    x, u, residual, groups = _check_arrays(physics, x, u, residual, groups)
    name = "trig-poly" if angles else "poly"
    base = make_library(
        name, physics.state_names, physics.action_names, angles=tuple(angles), degree=degree
    )
    xu = _xu_symbols(physics)
    divisors = _row_divisors(physics, xu)
    library, divisor_of = _divided_library(physics, base, divisors)
    theta = library.evaluate(x, u, physics.parameter_array())
    shapes = [_shape(e, xu) for e in library.exprs]
    prior_shapes = [_shape(e, xu) for e in physics.library.exprs]
    _, row = np.unique(groups, return_inverse=True)
    order = np.zeros(len(groups), dtype=np.int64)
    for g in np.unique(row):  # the sample index within each trajectory
        at = np.flatnonzero(row == g)
        order[at] = np.arange(len(at))
    fold = fold_ids(row, order, folds, seed)
    coef = np.zeros((len(physics.state_names), library.n_features))
    r2 = np.full(len(physics.state_names), np.nan)
    table: list[dict[str, Any]] = []
    own = physics.library.evaluate(x, u, physics.parameter_array())
    total = np.sqrt(np.mean((physics.predict(x, u) + residual) ** 2, axis=0))
    share = np.zeros(len(physics.state_names))
    for i, state in enumerate(physics.state_names):
        own_shapes = {sh for sh, on in zip(prior_shapes, physics.mask[i], strict=True) if on}
        free = _free_columns(shapes, divisor_of, own_shapes, divisors[i])
        target, candidates = _beyond_prior(own[:, physics.mask[i]], residual[:, i], theta[:, free])
        share[i] = np.sqrt(np.mean(target**2)) / max(total[i], 1e-300)
        if not free.size or not share[i] > 0:
            continue
        sel = select_sparse(candidates, target[:, None], fold, elimination_path, [state])
        coef[i, free], r2[i] = sel.coef[0], sel.r2[0]
        table += sel.table
    accepted = (np.nan_to_num(r2, nan=-np.inf) >= min_r2) & (share >= MIN_SHARE)
    coef[~accepted] = 0.0
    names = tuple(physics.state_names)
    return Closure(names, library, coef, r2, accepted, float(min_r2), table, share)


def _beyond_prior(
    own: np.ndarray, residual: np.ndarray, candidates: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``residual`` (N,) and ``candidates`` (N, k) less their least-squares fits on the prior's
    own terms ``own`` (N, m) of the same equation.

    After stage 1 the residual also holds what the parameters have not yet fitted: terms of the
    prior's own shapes (the cart-pole's ``force/D`` while its cart mass is 0.2 % off). A
    candidate close to such a term (``force`` against ``force/D``, where ``D`` varies by 7 %)
    would take it up, and its free coefficient would then trade off against the parameters
    (measured: ``+0.0036*force`` in the cart-pole's ``d(v)/dt``). Regressing on what the prior's
    terms leave (Frisch-Waugh-Lovell: the same coefficients as a fit with the prior's terms
    as unpenalised columns) closes only what the prior cannot write, and leaves the rest to
    the parameters, which keep training."""
    if not own.shape[1]:
        return residual, candidates
    both = np.column_stack([residual, candidates])
    fit, *_ = np.linalg.lstsq(own, both, rcond=None)
    rest = both - own @ fit
    return rest[:, 0], rest[:, 1:]


def _dependent(expr: sp.Expr, xu: set[sp.Symbol]) -> sp.Expr:
    """The factors of ``expr`` that depend on the states or actions ``xu`` (numbers and
    parameter-only factors dropped, after :func:`sympy.factor_terms` pulls them out)."""
    factors = sp.Mul.make_args(sp.factor_terms(expr))
    return sp.Mul(*[f for f in factors if f.free_symbols & xu])


def _xu_symbols(physics: PhysicsModel) -> set[sp.Symbol]:
    """The sympy symbols of the prior's states and actions."""
    return {sp.Symbol(n, real=True) for n in (*physics.state_names, *physics.action_names)}


def _shape(expr: sp.Expr, xu: set[sp.Symbol]) -> sp.Expr:
    """``expr`` up to a factor free of states and actions: ``force/(cart_mass + pole_mass -
    3/4*pole_mass*cos(theta)**2)`` and ``force/(4*cart_mass + 4*pole_mass -
    3*pole_mass*cos(theta)**2)`` have the same shape. A closure term of the same shape as one of
    the prior's terms would trade off against the prior's parameters."""
    num, den = sp.fraction(sp.together(expr))
    return _dependent(num, xu) / _dependent(den, xu)


def _row_divisors(physics: PhysicsModel, xu: set[sp.Symbol]) -> list[list[sp.Expr]]:
    """Per equation, the distinct state-dependent denominators of the prior's terms in it."""
    rows: list[list[sp.Expr]] = []
    for mask in physics.mask:
        found: list[sp.Expr] = []
        for expr, on in zip(physics.library.exprs, mask, strict=True):
            den = _dependent(sp.fraction(sp.together(expr))[1], xu) if on else sp.Integer(1)
            if den != 1 and den not in found:
                found.append(den)
        rows.append(found)
    return rows


def _divided_library(
    physics: PhysicsModel, base: FeatureLibrary, divisors: Sequence[Sequence[sp.Expr]]
) -> tuple[FeatureLibrary, list[sp.Expr]]:
    """``base`` plus every feature of it divided by each state-dependent denominator of the
    prior's equations (``divisors``, per equation: :func:`_row_divisors`), and the divisor of
    each column (1 for ``base``'s).

    A force the prior lacks enters a rigid body's accelerations through the inverse mass
    matrix, which a prior written in closed form carries as a denominator (the cart-pole's
    ``cart_mass + pole_mass - 3/4*pole_mass*cos(theta)**2``). Joint friction ``-c*v`` then
    appears in ``d(v)/dt`` as ``-c*v/D(theta)``, which no polynomial in sines and cosines writes
    exactly (measured: the best sparse fit of the cart-pole's friction from the generic library
    was 6-24 % off the missing term). With the divided features it is one term."""
    exprs, divisor_of = list(base.exprs), [sp.Integer(1)] * base.n_features
    for d in dict.fromkeys(d for row in divisors for d in row):
        for e in base.exprs:
            divided = e / d
            if divided not in exprs:
                exprs.append(divided)
                divisor_of.append(d)
    if len(exprs) == base.n_features:
        return base, divisor_of
    library = FeatureLibrary(
        exprs, base.state_names, base.action_names, physics.library.parameter_names
    )
    return library, divisor_of


def _free_columns(
    shapes: Sequence[sp.Expr],
    divisor_of: Sequence[sp.Expr],
    own: set[sp.Expr],
    divisors: Sequence[sp.Expr],
) -> np.ndarray:
    """The library columns a closure of one equation may use, less the terms this equation of
    the prior already has (up to a constant factor; ``own``, the :func:`_shape` of each): the
    plain features, or in an equation with state-dependent denominators (``divisors``) the
    features divided by them. Not both: where ``D``
    varies little (7 % on the cart-pole), ``v`` and ``v/D`` are nearly the same column and a
    network's residual cannot tell them apart (measured: the selection took ``-0.097*v`` for
    the exact ``-0.4*v/D``); a missing force reaches the equation through ``1/D``, so the
    divided form is the physical one. A prior's term has a coefficient made of physical
    parameters; a free closure coefficient on the same term would trade off against them
    (measured: with ``torque`` in the pendulum's closure, the mass stayed 2.2 % off because
    ``+0.065*torque`` made up for it), so the prior's own terms are its parameters' to fit.
    ``shapes`` are :func:`_shape` of the library's columns, ``divisor_of`` the divisor of
    each (1 for a plain feature)."""
    allowed = set(divisors) or {sp.Integer(1)}
    return np.array(
        [j for j, shape in enumerate(shapes) if divisor_of[j] in allowed and shape not in own],
        dtype=np.int64,
    )


def _new_name(state: str, n: int, taken: set[str]) -> str:
    """``closure_<state>_<n>``, with trailing underscores until it is not in ``taken``."""
    name = f"{CLOSURE_PREFIX}_{state}_{n}"
    while name in taken:
        name += "_"
    taken.add(name)
    return name


def close_prior(physics: PhysicsModel, closure: Closure) -> PhysicsModel:
    """``physics`` plus the closure's terms, each with a new free parameter at its fitted
    coefficient (``d(omega) = ... + closure_omega_1*omega``).

    Args:
        physics: the declared prior (at its current, e.g. trained, parameter values).
        closure: a :func:`fit_closure` result for the same states and actions.

    Returns:
        A declared PhysicsModel; ``info["closure"]`` holds :meth:`Closure.to_dict` and the new
        parameter of each term, ``info["equations"]`` the prior's equations with the terms.

    Raises:
        ConfigError: ``physics`` has no parameters, or the closure is for other names.
    """
    if not physics.parameters:
        raise ConfigError("close_prior needs a declared prior (with parameters); got none.")
    if closure.state_names != tuple(physics.state_names) or closure.library.action_names != tuple(
        physics.action_names
    ):
        raise ConfigError(
            f"The closure is for states {list(closure.state_names)} and actions "
            f"{list(closure.library.action_names)}, the prior has {list(physics.state_names)} "
            f"and {list(physics.action_names)}; fit the closure against this prior."
        )
    features = list(physics.library.exprs)
    rows = [list(r) for r in physics.coef_expressions]
    params = dict(physics.parameters)
    taken = set(params) | set(physics.state_names) | set(physics.action_names)
    added: dict[str, list[list[Any]]] = {}
    for i, state in enumerate(physics.state_names):
        for n, j in enumerate(np.flatnonzero(closure.coef[i]), start=1):
            expr = closure.library.exprs[j]
            if expr not in features:
                features.append(expr)
                for r in rows:
                    r.append(sp.Integer(0))
            name = _new_name(state, n, taken)
            value = float(closure.coef[i, j])
            params[name] = Parameter(name, value)
            col = features.index(expr)
            rows[i][col] = rows[i][col] + sp.Symbol(name, real=True)
            added.setdefault(state, []).append([name, expr_name(expr), value])
    info = dict(physics.info)
    info["closure"] = {**closure.to_dict(), "parameters": added}
    if "equations" in info:
        info["equations"] = [
            eq + "".join(f" + {p}*{f}" for p, f, _ in added.get(s, []))
            for s, eq in zip(physics.state_names, info["equations"], strict=False)
        ]
    return PhysicsModel(
        physics.state_names,
        physics.action_names,
        features,
        rows,
        parameters=list(params.values()),
        info=info,
        observations=physics.observations,
    )
