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
        library: the candidate terms (``k`` features over states and actions).
        coef: (n_x, k) the chosen coefficients of each equation's closure, zero in rows that
            were not accepted.
        r2: (n_x,) held-out R² of each row's chosen sparse fit of the residual (NaN where the
            residual is identically zero).
        accepted: (n_x,) True where the row is closed (``r2 >= min_r2`` and ``share >=``
            :data:`MIN_SHARE`).
        min_r2: the acceptance threshold used.
        table: the selection table (one dict per equation and candidate size).
        share: (n_x,) RMS of each row's residual over RMS of its derivative (prior +
            residual); rows under :data:`MIN_SHARE` are not closed.
    """

    state_names: tuple[str, ...]
    library: FeatureLibrary
    coef: np.ndarray
    r2: np.ndarray
    accepted: np.ndarray
    min_r2: float
    table: list[dict[str, Any]] = field(default_factory=list)
    share: np.ndarray | None = None

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
        """JSON-compatible summary (``terms``, ``r2``, ``accepted``, ``share``, ``min_r2``)."""
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
    x, u, residual, groups = _check_arrays(physics, x, u, residual, groups)
    name = "trig-poly" if angles else "poly"
    library = make_library(
        name, physics.state_names, physics.action_names, angles=tuple(angles), degree=degree
    )
    theta = library.evaluate(x, u)
    _, row = np.unique(groups, return_inverse=True)
    order = np.zeros(len(groups), dtype=np.int64)
    for g in np.unique(row):  # the sample index within each trajectory
        at = np.flatnonzero(row == g)
        order[at] = np.arange(len(at))
    fold = fold_ids(row, order, folds, seed)
    coef = np.zeros((len(physics.state_names), library.n_features))
    r2 = np.full(len(physics.state_names), np.nan)
    table: list[dict[str, Any]] = []
    size = np.sqrt(np.mean(residual**2, axis=0))
    total = np.sqrt(np.mean((physics.predict(x, u) + residual) ** 2, axis=0))
    share = size / np.maximum(total, 1e-300)
    for i, state in enumerate(physics.state_names):
        free = _free_columns(physics, library, i)
        if not free.size or not size[i] > 0:
            continue
        sel = select_sparse(theta[:, free], residual[:, [i]], fold, elimination_path, [state])
        coef[i, free], r2[i] = sel.coef[0], sel.r2[0]
        table += sel.table
    accepted = (np.nan_to_num(r2, nan=-np.inf) >= min_r2) & (share >= MIN_SHARE)
    coef[~accepted] = 0.0
    names = tuple(physics.state_names)
    return Closure(names, library, coef, r2, accepted, float(min_r2), table, share)


def _free_columns(physics: PhysicsModel, library: FeatureLibrary, row: int) -> np.ndarray:
    """The library columns a closure of equation ``row`` may use: those that are not already
    terms of that equation in the prior. A prior's term has a coefficient made of physical
    parameters; a free closure coefficient on the same term would trade off against them
    (measured: with ``torque`` in the pendulum's closure, the mass stayed 2.2 % off because
    ``+0.065*torque`` made up for it), so the prior's own terms are its parameters' to fit."""
    own = {e for e, on in zip(physics.library.exprs, physics.mask[row], strict=True) if on}
    return np.array([j for j, e in enumerate(library.exprs) if e not in own], dtype=np.int64)


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
