"""Rational right-hand sides: ``dx_i/dt = N_i(x, u) / D(z)`` with a denominator learned from data.

Mechanical systems whose inertia depends on the configuration (cart-pole, two-link arms) have
accelerations ``M(q)^-1 f(q, dq/dt, u)``: rational in the joint angles. A polynomial or
trigonometric library can only approximate such a right-hand side, and the approximation
leaves the data badly (on the acrobot it diverges). With a denominator

    D(z) = 1 + d_1 z + d_2 z^2 + ... + d_m z^m

in one state expression ``z`` (``cos(theta2)`` for a two-link arm, where ``det M`` is a
polynomial in it), the numerators are sparse combinations of the usual library features and
the sparse regression finds them over the features ``theta_k(x, u) / D(z)``.

The coefficients ``d`` are estimated before the sparse fit, in two steps:

1. *implicit least squares*: ``dx_i D(z) = Theta xi_i`` is linear in ``(xi_i, d)``; it is
   solved jointly over every rational row (one shared ``D``);
2. *refinement*: ``d`` minimising the explicit residual ``sum_i ||dx_i - (Theta / D) xi_i(d)||^2``,
   with ``xi_i(d)`` the ridge least-squares numerators, by Nelder-Mead from step 1 (step 1 is
   biased when the derivative estimates are noisy, since they appear on both sides).

``D`` must stay positive where it will be evaluated: on the range of ``z`` seen in the data,
widened to ``[-1, 1]`` when ``z`` is a sine or cosine. Candidates with ``min D`` below
:data:`MIN_DENOMINATOR` there are rejected, so the model has no pole in that range.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import sympy as sp
from scipy.optimize import minimize

from hybridwm.data import TrajectorySet
from hybridwm.errors import ConfigError, DiscoveryError, UnknownNameError
from hybridwm.physics.derivatives import RegressionData
from hybridwm.physics.expressions import parse_expression
from hybridwm.physics.features import FeatureLibrary
from hybridwm.physics.selection import fold_ids

__all__ = [
    "MIN_DENOMINATOR",
    "denominator_expression",
    "denominator_values",
    "estimate_denominator",
    "fit_groups",
    "fit_rational",
    "kinematic_rows",
    "refine_denominator",
    "select_denominator",
    "z_range",
]

#: The smallest value the denominator may take on the checked range of ``z``.
MIN_DENOMINATOR = 0.05
#: Work per refinement evaluation (rows × features²) above which the rows are subsampled,
#: evenly spaced, down to no fewer than ``MIN_REFINE_ROWS``.
REFINE_BUDGET = 5e7
MIN_REFINE_ROWS = 2000


def z_range(expr: sp.Expr, values: np.ndarray) -> tuple[float, float]:
    """The interval of ``z`` on which the denominator must stay positive.

    Args:
        expr: the sympy expression of ``z``.
        values: (N,) values of ``z`` on the data.

    Returns:
        ``(lo, hi)``: the range of ``values``, widened to ``[-1, 1]`` when ``expr`` is a sine or
        cosine (the values a rollout can reach off the data).
    """
    lo, hi = float(np.min(values)), float(np.max(values))
    if isinstance(expr, (sp.sin, sp.cos)):
        lo, hi = min(lo, -1.0), max(hi, 1.0)
    return lo, hi


def denominator_values(z: np.ndarray, d: np.ndarray) -> np.ndarray:
    """``D(z) = 1 + sum_k d_k z^k`` for (N,) values ``z`` and (m,) coefficients ``d``."""
    powers = np.stack([z ** (k + 1) for k in range(len(d))], axis=-1)
    return 1.0 + powers @ d


def denominator_expression(z: sp.Expr, d: Sequence[float], digits: int = 6) -> sp.Expr:
    """The sympy expression of ``D(z)`` with coefficients rounded to ``digits`` significant
    digits (the rounded value is the one every later fit and rollout uses)."""
    out: sp.Expr = sp.Integer(1)
    for k, dk in enumerate(d, start=1):
        text = f"{float(dk):.{digits}g}"
        if float(text) != 0.0:
            # full (53-bit) precision of the rounded decimal, so that str() -> parse is exact
            out = out + sp.Float(text) * z**k
    return out


def kinematic_rows(
    dx: np.ndarray, x: np.ndarray, tol: float = 0.05, theta: np.ndarray | None = None
) -> np.ndarray:
    """Rows whose derivative is (almost) another state: ``dq/dt = omega`` in mechanics.

    Args:
        dx: (N, n_x) derivative estimates.
        x: (N, n_x) states at the same rows.
        tol: a row is kinematic when ``dx_i ~ a x_j`` for some ``j`` leaves a relative RMS
            residual below ``tol``, or (given ``theta``) a residual at most ``1 + tol`` times
            that of the least-squares fit on every column of ``theta``.
        theta: (N, k) the library's regressors. With noisy data the derivative estimates carry
            noise that no regressor explains, so a fixed ``tol`` calls a noisy ``dx/dt = v``
            non-kinematic (a cart position with 1 % noise: relative residual 0.18); against
            the whole library's residual (the noise floor) it is recognised.

    Returns:
        (n_x,) bool, True for the kinematic rows.
    """
    floor = None
    if theta is not None:
        coef = np.linalg.lstsq(theta, dx, rcond=None)[0]
        floor = np.sqrt(np.mean((dx - theta @ coef) ** 2, axis=0))
    out = np.zeros(dx.shape[1], dtype=bool)
    for i in range(dx.shape[1]):
        target = dx[:, i]
        scale = float(np.sqrt(np.mean(target**2)))
        if scale == 0.0:
            out[i] = True
            continue
        limit = tol * scale if floor is None else max(tol * scale, (1.0 + tol) * floor[i])
        for j in range(x.shape[1]):
            xj = x[:, j]
            denom = float(xj @ xj)
            if denom == 0.0:
                continue
            resid = target - (xj @ target / denom) * xj
            if float(np.sqrt(np.mean(resid**2))) < limit:
                out[i] = True
                break
    return out


def _ridge(a: np.ndarray, b: np.ndarray, alpha: float) -> np.ndarray:
    """Ridge least squares ``argmin ||a c - b||^2 + alpha ||c||^2`` for (N, k) a and (N, r) b."""
    gram = a.T @ a
    gram[np.diag_indices_from(gram)] += alpha
    return np.linalg.solve(gram, a.T @ b)


def estimate_denominator(
    theta: np.ndarray,
    dx: np.ndarray,
    z: np.ndarray,
    degree: int,
    *,
    bounds: tuple[float, float],
    alpha: float = 1e-6,
) -> np.ndarray:
    """Coefficients ``d`` of the shared denominator ``D(z) = 1 + d_1 z + ... + d_m z^m``.

    Args:
        theta: (N, k) library features at the regression rows (aligned where needed).
        dx: (N, r) derivative estimates of the rational rows.
        z: (N,) values of the denominator's variable at the same rows.
        degree: ``m``, the degree of ``D`` in ``z`` (>= 1).
        bounds: ``(lo, hi)`` interval of ``z`` on which ``D`` must stay
            >= :data:`MIN_DENOMINATOR` (see :func:`z_range`).
        alpha: ridge weight, relative to the mean squared column norm of the regressors.

    Returns:
        (m,) coefficients ``d``.

    Raises:
        DiscoveryError: no denominator positive on ``bounds`` fits the data (the message gives
            the best candidate and how to proceed).
    """
    n, k = theta.shape
    r = dx.shape[1]
    zp = np.stack([z ** (j + 1) for j in range(degree)], axis=1)  # (N, m)
    # scale columns so that one ridge weight fits all of them
    col = np.sqrt(np.mean(theta**2, axis=0))
    col[col == 0] = 1.0
    th = theta / col

    # step 1: [Theta (block-diagonal over rows) | -dx_i * z^j] @ [xi; d] = dx, stacked rows
    big = np.zeros((n * r, k * r + degree))
    for i in range(r):
        big[i * n : (i + 1) * n, i * k : (i + 1) * k] = th
        big[i * n : (i + 1) * n, k * r :] = -dx[:, i : i + 1] * zp
    target = dx.T.reshape(-1)
    scale = float(np.mean(big**2)) or 1.0
    sol = _ridge(big, target[:, None], alpha * scale)[:, 0]
    d0 = sol[k * r :]

    # step 2 places two or three numbers and needs far fewer rows than step 1: for big
    # libraries (each evaluation costs rows × features²) an evenly spaced subset keeps it cheap
    max_rows = max(MIN_REFINE_ROWS, int(REFINE_BUDGET / max(k, 1) ** 2))
    if n > max_rows:
        keep = np.linspace(0, n - 1, max_rows).round().astype(np.int64)
        th_r, dx_r, z_r = th[keep], dx[keep], z[keep]
    else:
        th_r, dx_r, z_r = th, dx, z
    return refine_denominator(
        lambda d: (th_r / denominator_values(z_r, d)[:, None], dx_r), d0, bounds, alpha=alpha
    )


def refine_denominator(
    rows_of: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    start: np.ndarray,
    bounds: tuple[float, float],
    *,
    alpha: float = 1e-6,
    embed: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """The denominator's coefficients ``d`` that minimize the explicit residual
    ``||dx - A(d) xi(d)||^2``, ``xi(d)`` the ridge least-squares numerators (Nelder-Mead).

    Args:
        rows_of: maps ``d`` (m,) to the regression rows ``(A(d) (n, k), dx (n, r))`` of the
            features divided by ``D(z; d)`` (pointwise, or their weak-form integrals).
        start: (m,) the first guess (replaced by zeros when ``D`` is not positive with it).
        bounds: ``(lo, hi)`` interval of ``z`` on which ``D`` must stay
            >= :data:`MIN_DENOMINATOR`.
        alpha: ridge weight, relative to the mean square of ``A(d)``.
        embed: maps the free coefficients to the full ``d`` (default: they are ``d``), e.g.
            to keep some powers of ``z`` at zero.

    Returns:
        (m,) coefficients ``d`` (the free ones when ``embed`` is given).

    Raises:
        DiscoveryError: no denominator positive on ``bounds`` fits the data.
    """
    grid = np.linspace(bounds[0], bounds[1], 201)
    full = embed if embed is not None else (lambda v: v)

    def feasible(d: np.ndarray) -> bool:
        return bool(np.min(denominator_values(grid, full(d))) >= MIN_DENOMINATOR)

    def explicit(d: np.ndarray) -> float:
        if not feasible(d):
            return np.inf
        a, y = rows_of(full(d))
        coef = _ridge(a, y, alpha * (float(np.mean(a**2)) or 1.0))
        return float(np.sum((a @ coef - y) ** 2))

    start = np.asarray(start, dtype=np.float64)
    first = start if feasible(start) else np.zeros(len(start))
    best = minimize(
        explicit,
        first,
        method="Nelder-Mead",
        options={"xatol": 1e-6, "fatol": 1e-12, "maxiter": 400 * len(start)},
    )
    d = np.asarray(best.x, dtype=np.float64)
    if not np.isfinite(best.fun) or not feasible(d):
        raise DiscoveryError(_infeasible_message(start, bounds))
    return d


def _infeasible_message(d: np.ndarray, bounds: tuple[float, float]) -> str:
    return (
        f"No denominator 1 + d_1 z + ... stays >= {MIN_DENOMINATOR} on z in "
        f"[{bounds[0]:.3g}, {bounds[1]:.3g}] and fits the data (implicit estimate d = "
        f"{np.array2string(d, precision=4)}). Check that the rows named in `rational` are the "
        f"rational ones, use another `denominator` expression or a lower `denominator_degree`."
    )


# ---------------------------------------------------------------------------- sparse regression
#: a sparse fit of the equations ``rows`` (state indices) of a regression (whose ``dx`` holds
#: just those columns): (coefficients (len(rows), k), ensemble statistics or None)
Regress = Callable[[RegressionData, Sequence[int]], tuple[np.ndarray, dict[str, Any] | None]]
#: the regression rows (derivative or weak form) of a library on the data
Rows = Callable[[FeatureLibrary], RegressionData]
#: ``scaled(columns, weight)``: the regression rows of the library's ``columns``, each feature
#: multiplied by ``weight(x)`` ((N, n_x) states -> (N,)) before it is differentiated or
#: integrated: ``(theta (n, len(columns)), dx (n, n_x))``, in the same form as ``Rows``
Scaled = Callable[[np.ndarray, Callable[[np.ndarray], np.ndarray]], tuple[np.ndarray, np.ndarray]]


def _variable(
    data: TrajectorySet, reg: RegressionData, denominator: str
) -> tuple[sp.Expr, np.ndarray, np.ndarray]:
    """``(z expression, x at the regression rows (N, n_x), z at those rows (N,))``."""
    states = tuple(data.state_names)
    z_expr = parse_expression(
        denominator, states, what="denominator (an expression over the states)"
    )
    if not z_expr.free_symbols:
        raise ConfigError(
            f"`denominator` {denominator!r} is a constant; it must depend on a state, e.g. "
            f"'cos(theta2)'."
        )
    offsets = np.concatenate([[0], np.cumsum(data.lengths)[:-1]]).astype(np.int64)
    x_all = np.concatenate([tr.x for tr in data], axis=0)
    x_rows = x_all[offsets[reg.trajectory] + reg.row]
    z_lib = FeatureLibrary([z_expr], states, data.action_names)
    z = z_lib.evaluate(x_rows, np.zeros((len(x_rows), len(data.action_names))))[:, 0]
    return z_expr, x_rows, z


def _rational_rows(
    states: tuple[str, ...],
    reg: RegressionData,
    x_rows: np.ndarray,
    rational: Sequence[str] | None,
    is_pinned: np.ndarray,
) -> np.ndarray:
    """(n_x,) bool: the rows that get the denominator (named, or the non-kinematic ones that
    are not pinned: ``is_pinned``, (n_x,) bool)."""
    if rational is None:
        is_rational = ~kinematic_rows(reg.dx, x_rows, theta=reg.theta) & ~is_pinned
    else:
        unknown = [n for n in rational if n not in states]
        if unknown:
            raise UnknownNameError(
                f"`rational` names {unknown}, which are not states of the data. States: "
                f"{list(states)}."
            )
        is_rational = np.array([n in rational for n in states])
    if not is_rational.any():
        raise DiscoveryError(
            f"No state was found whose derivative is rational: each of {list(states)} has a "
            f"derivative equal to another state. Name them with `rational=[...]`."
        )
    return is_rational


def fit_groups(
    groups: Sequence[tuple[np.ndarray, RegressionData]], n_x: int, k: int, regress: Regress
) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, Any]]:
    """Fit each ``(rows, regression)`` group on its own block of ``k`` feature columns.

    Returns:
        The (n_x, k * len(groups)) coefficients, the ensemble statistics of the same shape and
        the ensemble's ``n_models``/``bagging`` (empty without an ensemble).
    """
    coef = np.zeros((n_x, k * len(groups)))
    stats = {
        "coef_mean": coef.copy(),
        "coef_std": coef.copy(),
        "inclusion_probability": coef.copy(),
    }
    ens_meta: dict[str, Any] = {}
    for g, (rows, r) in enumerate(groups):
        if not rows.size:
            continue
        sl = slice(g * k, (g + 1) * k)
        c, st = regress(dataclasses.replace(r, dx=r.dx[:, rows]), [int(i) for i in rows])
        coef[rows, sl] = c
        if st is not None:
            for key in stats:
                stats[key][rows, sl] = st[key]
            ens_meta = {key: st[key] for key in ("n_models", "bagging", "aggregate")}
    return coef, stats, ens_meta


def _heldout_error(
    rows_of: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]], d: np.ndarray, fold: np.ndarray
) -> np.ndarray:
    """(K,) held-out mean squared error of the numerators fitted (ridge) on the other folds."""
    a, y = rows_of(d)
    out = []
    for f in range(int(fold.max()) + 1):
        test = fold == f
        coef = _ridge(a[~test], y[~test], 1e-6 * (float(np.mean(a[~test] ** 2)) or 1.0))
        out.append(float(np.mean((a[test] @ coef - y[test]) ** 2)))
    return np.array(out)


def select_denominator(
    rows_of: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    d: np.ndarray,
    bounds: tuple[float, float],
    fold: np.ndarray,
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """The terms of ``D(z) = 1 + d_1 z + ...`` chosen on held-out rows, like the numerators':
    every non-empty subset of the powers is refined (the others kept at zero) and scored on the
    folds; the fewest terms within one standard error of the best win.

    Args:
        rows_of: as in :func:`refine_denominator`.
        d: (m,) the estimate with every power.
        bounds: the interval of ``z`` where ``D`` must stay positive.
        fold: (n,) the held-out fold of each row of ``rows_of``.

    Returns:
        The chosen (m,) coefficients (zeros for dropped powers) and the table of candidates
        (``powers``, ``coefficients``, ``heldout_rmse``, ``chosen``).
    """
    m = len(d)
    cands, errs = [], []
    for size in range(m, 0, -1):
        for powers in itertools.combinations(range(m), size):
            idx = list(powers)

            def embed(v: np.ndarray, idx: list[int] = idx) -> np.ndarray:
                out = np.zeros(m)
                out[idx] = v
                return out

            try:
                free = refine_denominator(rows_of, d[idx], bounds, embed=embed)
            except DiscoveryError:
                continue
            cands.append(embed(free))
            errs.append(_heldout_error(rows_of, cands[-1], fold))
    err = np.array(errs)
    mean, se = err.mean(axis=1), err.std(axis=1, ddof=1) / np.sqrt(err.shape[1])
    best = int(np.argmin(mean))
    ok = [c for c in range(len(cands)) if mean[c] <= mean[best] + se[best]]
    pick = min(ok, key=lambda c: (np.count_nonzero(cands[c]), mean[c]))
    table = [
        {
            "powers": [int(k + 1) for k in np.flatnonzero(c)],
            "coefficients": [float(v) for v in c],
            "heldout_rmse": float(np.sqrt(mean[j])),
            "chosen": j == pick,
        }
        for j, c in enumerate(cands)
    ]
    return cands[pick], table


def _weighted_rows(
    scaled: Scaled, columns: np.ndarray, z_expr: sp.Expr, data: TrajectorySet, rows: np.ndarray
) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``d -> (rows of the library's ``columns`` divided by D(z; d), derivatives of the states
    ``rows``)``: what :func:`refine_denominator` needs for the second estimate."""
    z_lib = FeatureLibrary([z_expr], data.state_names, data.action_names)

    def z_of(x: np.ndarray) -> np.ndarray:
        return z_lib.evaluate(x, np.zeros((len(x), len(data.action_names))))[:, 0]

    def rows_of(d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        a, y = scaled(columns, lambda x: 1.0 / denominator_values(z_of(x), d))
        return a, y[:, rows]

    return rows_of


def _used_columns(coef: np.ndarray, inclusion: np.ndarray) -> np.ndarray:
    """The feature columns some row uses (or some bagged model included); all if none."""
    used = np.any(coef != 0, axis=0) | np.any(inclusion > 0, axis=0)
    return np.flatnonzero(used) if used.any() else np.arange(coef.shape[1])


def fit_rational(
    data: TrajectorySet,
    lib: FeatureLibrary,
    reg: RegressionData,
    rows: Rows,
    *,
    denominator: str,
    degree: int,
    rational: Sequence[str] | None,
    pinned: Sequence[str] = (),
    regress: Regress,
    scaled: Scaled | None = None,
    folds: int = 5,
    seed: int = 0,
) -> tuple[list[sp.Expr], np.ndarray, dict[str, Any] | None, dict[str, Any]]:
    """Sparse regression with a shared denominator on the rational rows: the other rows regress
    on the library, the rational ones on ``feature / D(z)``.

    Args:
        data: the trajectories.
        lib: the feature library (the numerators' candidates).
        reg: the derivative rows of ``lib`` on ``data`` (for the estimate of ``D``, which
            needs the samples' ``z``).
        rows: the regression rows the sparse fits use, of ``lib`` and of the quotients
            ``feature / D`` (derivative or weak form).
        denominator: the expression ``z`` over the states.
        degree: ``m``, the degree of ``D`` in ``z``.
        rational: the states whose derivatives get the denominator (None: the non-kinematic
            ones, see :func:`kinematic_rows`).
        pinned: states whose rows are not fitted (``kinematics``: set afterwards; zero here).
        regress: the sparse fit of one group of rows (with or without an ensemble).
        scaled: rows of weighted library columns (:data:`Scaled`). Given, ``D`` is estimated
            again on the chosen numerator terms only, in the rows' own form (weak or not), its
            powers chosen on held-out folds (:func:`select_denominator`, recorded in
            ``info["rational"]["selection"]``), and the rational rows are fitted again.
        folds: held-out folds of that choice (:func:`~hybridwm.physics.selection.fold_ids`).
        seed: seed of the folds.

    Returns:
        The features used (library features and their quotients by ``D``), the (n_x, n_used)
        coefficients, the ensemble statistics (or None) and what to record in
        ``info["rational"]``.
    """
    states = tuple(data.state_names)
    z_expr, x_rows, z = _variable(data, reg, denominator)
    is_pinned = np.array([n in pinned for n in states])
    is_rational = _rational_rows(states, reg, x_rows, rational, is_pinned)
    rows_r = np.flatnonzero(is_rational)
    bounds = z_range(z_expr, z)
    d = estimate_denominator(reg.theta, reg.dx[:, rows_r], z, degree, bounds=bounds)
    den = denominator_expression(z_expr, d)
    rlib = FeatureLibrary([e / den for e in lib.exprs], states, data.action_names)
    groups = ((np.flatnonzero(~is_rational & ~is_pinned), rows(lib)), (rows_r, rows(rlib)))
    coef, stats, ens_meta = fit_groups(groups, len(states), lib.n_features, regress)
    k = lib.n_features
    d_table: list[dict[str, Any]] = []
    chosen = np.flatnonzero(np.any(coef[rows_r, k:] != 0, axis=0))
    if scaled is not None and chosen.size:
        fold = fold_ids(groups[0][1].trajectory, groups[0][1].row, folds, seed)
        weighted = _weighted_rows(scaled, chosen, z_expr, data, rows_r)
        d, d_table = select_denominator(
            weighted, refine_denominator(weighted, d, bounds), bounds, fold
        )
        den = denominator_expression(z_expr, d)
        rlib = FeatureLibrary([e / den for e in lib.exprs], states, data.action_names)
        again = ((np.array([], dtype=np.int64), groups[0][1]), (rows_r, rows(rlib)))
        coef_r, stats_r, ens_meta = fit_groups(again, len(states), k, regress)
        coef[:, k:] = coef_r[:, k:]
        for key in stats:
            stats[key][:, k:] = stats_r[key][:, k:]
    keep = _used_columns(coef, stats["inclusion_probability"])
    exprs = [*lib.exprs, *rlib.exprs]
    ens_stats = {**ens_meta, **{key: v[:, keep] for key, v in stats.items()}} if ens_meta else None
    info = _record(z_expr, degree, d, den, [states[i] for i in rows_r], bounds, d_table)
    return [exprs[i] for i in keep], coef[:, keep], ens_stats, info


def _record(
    z: sp.Expr,
    degree: int,
    d: np.ndarray,
    den: sp.Expr,
    rational_states: list[str],
    bounds: tuple[float, float],
    table: list[dict[str, Any]],
) -> dict[str, Any]:
    """``info["rational"]`` of :func:`fit_rational`: ``z``, ``D``'s degree, coefficients ``d``
    and expression, the rational states, the range of ``z`` on the data and the powers' table."""
    return {
        "z": str(z),
        "degree": degree,
        "coefficients": [float(v) for v in d],
        "denominator": str(den),
        "rational_states": rational_states,
        "z_range": [float(bounds[0]), float(bounds[1])],
        "selection": table,
    }
