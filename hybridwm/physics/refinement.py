"""Refining discovered coefficients by simulation error: output-error least squares.

Sparse regression fits derivatives (or their weak-form integrals) computed from the noisy
states, so the regressors carry the noise as well as the targets: the coefficients are biased
(errors in variables), most of all the small ones and a rational model's denominator. With the
terms fixed, :func:`refine_coefficients` fits the non-zero coefficients again by the error of
free-running simulations against the measured states, the maximum-likelihood fit under white
measurement noise:

* each trajectory is cut into segments of ``segment`` intervals (a remainder shorter than half
  a segment joins the last one), simulated with RK4
  and the actions held on each interval (as :meth:`~hybridwm.physics.PhysicsModel.simulate`);
* every segment's initial state is a free parameter too (a noisy first sample is not where the
  true trajectory started), so segments and coefficients are fitted together;
* residuals are divided by each state's standard deviation; scipy's trust-region
  least squares (``least_squares(method="trf")``) solves it, with a finite-difference Jacobian
  whose block structure (coefficients: every row; an initial state: its segment's rows) keeps
  the cost at one simulation per coefficient and per state component.

The Gauss-Newton covariance at the solution gives each coefficient's standard error
(``info["refinement"]["standard_errors"]``): the Cramér-Rao bound of these data under white
noise, the precision no unbiased estimator of this structure can beat. Without a candidate
library the terms stay as they are (a zero stays zero); a rational model's non-zero denominator
coefficients are refined with the numerators.

Given a candidate ``library``, the terms are chosen again by the same criterion, one step at a
time: the candidate whose coefficient would lower the simulation error most (a score test on
the linearised fit, every candidate's sensitivity from one batched simulation) is added when
its statistic exceeds ``log(n) + 2 log(K)`` (``n``: the number of measured residuals, ``K``:
the number of candidates; the extended BIC's price of one coefficient, Chen & Chen 2008:
the plain BIC's ``log(n)`` ignores that the largest of ``K`` statistics is taken, and added a
spurious term to the pendulum in 1 of 10 seeds at each noise level, as ``K = 80`` chi-square
statistics predict), otherwise the term with the smallest ``(coefficient / standard error)^2``
is removed when that is below the same price, otherwise the term and candidate whose exchange lowers
the linearised sum of squares most are exchanged (kept only if the refit confirms it); after
each step everything is fitted again. This separates look-alike terms (``omega`` and
``omega*cos(theta)``) that derivative regression on noisy data confuses: their simulated
effects differ where the regressors nearly coincide.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import log
from typing import Any, TypeVar

import numpy as np
import sympy as sp

from hybridwm.data import TrajectorySet
from hybridwm.errors import ConfigError, DataError, UnknownNameError
from hybridwm.physics.equations import Equations
from hybridwm.physics.expressions import expr_name, parse_expression
from hybridwm.physics.features import FeatureLibrary
from hybridwm.physics.kinematics import pinned_rows
from hybridwm.physics.output_error import (
    Candidate,
    Fit,
    Problem,
    Structure,
    fit_numbers,
    sensitivities,
    structure_of,
)
from hybridwm.physics.rational import denominator_expression

__all__ = ["refine_coefficients"]

E = TypeVar("E", bound=Equations)

#: the most add/remove steps of the term selection, per state
_STEPS_PER_STATE = 4
#: the most columns (coefficients + segment starts) the score test's dense normal matrix takes
_MAX_COLUMNS = 6000
#: the most simulated values (copies x segments x samples x states) of one batched simulation
_BATCH_VALUES = 4_000_000


def _check(
    model: Any, data: Any, segment: Any, max_evaluations: Any, library: Any
) -> FeatureLibrary | None:
    """Raise a specific error for anything :func:`refine_coefficients` cannot take."""
    if not isinstance(model, Equations):
        raise ConfigError(f"`model` must be a PhysicsModel. Got {type(model).__name__}.")
    if model.parameters:
        raise ConfigError(
            "`model` is a declared prior with parameters "
            f"{sorted(model.parameters)}: refine_coefficients refines the numbers of discovered "
            "equations. Fit a prior's parameters with fit_parameters() or `hybridwm fit`."
        )
    if model.observations:
        raise ConfigError("`model` has observation equations; refine_coefficients needs states.")
    if not (model.mask & ~pinned_rows(model.info, model.state_names)[:, None]).any():
        raise ConfigError(
            "`model` has no non-zero coefficient to refine (rows pinned by "
            "info['kinematics'] are held, not refined)."
        )
    if not isinstance(data, TrajectorySet):
        raise DataError(f"`data` must be a TrajectorySet. Got {type(data).__name__}.")
    for kind, want, have in (
        ("states", model.state_names, data.state_names),
        ("actions", model.action_names, data.action_names),
    ):
        if tuple(want) != tuple(have):
            raise UnknownNameError(
                f"`data` must have the model's {kind} {list(want)} in this order. Got "
                f"{list(have)}; select or reorder the columns when loading."
            )
    if data.has_missing:
        raise DataError("`data` has missing values; use data.dropna() or data.interpolate().")
    if all(len(tr.t) < 2 for tr in data):
        raise DataError("`data` has no trajectory of two or more samples; nothing to simulate.")
    for name, value, low in (("segment", segment, 1), ("max_evaluations", max_evaluations, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ConfigError(f"`{name}` must be an integer >= {low}. Got {value!r}.")
    if library is None or isinstance(library, FeatureLibrary):
        return library
    if isinstance(library, str) or not all(isinstance(f, (str, sp.Expr)) for f in library):
        raise ConfigError(
            "`library` must be a FeatureLibrary or a list of feature expressions, e.g. "
            f"['sin(theta)', 'omega*cos(theta)']. Got {library!r}."
        )
    return FeatureLibrary(list(library), model.state_names, model.action_names)


def refine_coefficients(
    model: E,
    data: TrajectorySet,
    *,
    segment: int = 300,
    max_evaluations: int = 30,
    library: FeatureLibrary | list[str] | None = None,
) -> E:
    """Refine a discovered model's non-zero coefficients (and, given a library, its terms) by
    free-run simulation error.

    Args:
        model: discovered equations (numbers as coefficients; a rational model's denominator
            is refined too, its powers kept).
        data: trajectories with the model's states and actions (in order), no missing values;
            actions are held on each interval.
        segment: the intervals one simulated piece covers; longer trajectories are cut (a
            remainder under half a segment joins the last piece), and each piece's initial
            state is fitted. Shorter pieces suit systems whose
            simulations drift apart quickly (unstable or chaotic ones).
        max_evaluations: the most residual evaluations of each least-squares fit.
        library: candidate features (a rational row gets them divided by the denominator).
            None (default): the terms are kept and only their coefficients are refined.

    Returns:
        A new model with the refined coefficients and ``info["refinement"]``: the segments,
        the evaluations, the solver's message, the RMS normalised residual before and after
        (``cost``), the noise estimate, each free coefficient's standard error
        (``standard_errors``: ``{state: {term: se}}``; a denominator's under ``"D: z^k"``)
        and the term selection's ``steps``. Bagging statistics (``ensemble``) belong to the
        regression and are dropped.

    Raises:
        ConfigError: ``model`` is not a discovered PhysicsModel (a declared prior, observation
            equations, no non-zero coefficient), ``segment`` / ``max_evaluations`` < 1, or
            ``library`` is neither a FeatureLibrary nor a list of expressions.
        DataError: ``data`` is not a TrajectorySet or has missing values.
        UnknownNameError: ``data``'s states or actions differ from the model's.
    """
    lib = _check(model, data, segment, max_evaluations, library)
    problem = Problem.of(data, int(segment))
    st, theta0 = structure_of(model)
    fit = fit_numbers(st, theta0, problem, int(max_evaluations))
    first = fit
    current = _rebuilt(model, st, fit.theta)
    steps: list[dict[str, Any]] = []
    if lib is not None:
        current, fit, steps = _select(current, fit, problem, lib, int(max_evaluations))
    st, _ = structure_of(current)
    record = {
        "segments": int(problem.seg.x.shape[0]),
        "segment": int(segment),
        "evaluations": int(first.evaluations) + sum(s["evaluations"] for s in steps),
        "message": fit.message,
        "cost": {
            "before": float(np.sqrt(np.sum(first.r0**2) / problem.n_used)),
            "after": float(np.sqrt(np.sum(fit.r**2) / problem.n_used)),
        },
        "noise": float(np.sqrt(fit.sigma2)),
        "standard_errors": _errors(current, st, fit.se),
        "steps": steps,
    }
    current.info["refinement"] = record
    return current


def _rebuilt(model: E, st: Structure, theta: np.ndarray) -> E:
    """``model`` with the values ``theta`` (coefficients, then the denominator's), the terms
    whose coefficient is zero in every row dropped."""
    n_c = st.index[0].size
    coef = model.coefficients.to_numpy().copy()
    coef[st.index] = theta[:n_c]
    exprs = list(model.library.exprs)
    info = {k: v for k, v in model.info.items() if k != "refinement"}
    if st.z is not None:
        nums = [sp.fraction(e)[0] if r else e for e, r in zip(exprs, st.rational, strict=True)]
        d = np.zeros(st.degree)
        d[st.powers - 1] = theta[n_c:]
        den = denominator_expression(st.z.exprs[0], d)
        exprs = [n / den if r else e for n, e, r in zip(nums, exprs, st.rational, strict=True)]
        info["rational"] = dict(info["rational"]) | {
            "coefficients": [float(v) for v in d],
            "denominator": str(den),
        }
    used = np.flatnonzero((coef != 0).any(axis=0))
    return type(model)(
        model.state_names,
        model.action_names,
        [exprs[j] for j in used],
        coef[:, used],
        info=info,
    )


def _errors(model: Equations, st: Structure, se: np.ndarray) -> dict[str, dict[str, float]]:
    """``{state: {term: standard error}}``, a rational row's terms by their numerators and
    its denominator's coefficients as ``"D: z^k"``."""
    n_c = st.index[0].size
    nums = [
        sp.fraction(e)[0] if r else e for e, r in zip(model.library.exprs, st.rational, strict=True)
    ]
    names = [expr_name(e) for e in nums]
    errors: dict[str, dict[str, float]] = {s: {} for s in model.state_names}
    for i, j, e in zip(*st.index, se[:n_c], strict=True):
        errors[model.state_names[i]][names[j]] = float(e)
    if st.z is not None:
        for p, e in zip(st.powers, se[n_c:], strict=True):
            term = f"D: {expr_name(st.z.exprs[0] ** int(p))}"
            for state in model.info["rational"]["rational_states"]:
                errors[state][term] = float(e)
    return errors


def _key(model: Equations) -> frozenset[tuple[int, str]]:
    """The model's terms as ``(row, numerator name)`` pairs."""
    exprs = model.library.exprs
    return frozenset(
        (int(i), expr_name(sp.fraction(exprs[j])[0]))
        for i, j in zip(*np.nonzero(model.mask), strict=True)
    )


def _candidates(model: Equations, lib: FeatureLibrary, problem: Problem) -> list[Candidate]:
    """Every (row, library feature) pair as a :class:`Candidate` (terms already in the model
    included; :func:`_select` skips them), with its finite-difference step: the coefficient
    that moves its state by about 1e-6 of its scale over a segment."""
    rational = set(model.info.get("rational", {}).get("rational_states", ()))
    pinned = pinned_rows(model.info, model.state_names)
    seg = problem.seg
    x = seg.x[:, :-1][seg.weight[:, 1:] > 0]
    u = seg.u[seg.weight[:, 1:] > 0]
    duration = float(np.median(seg.h.sum(axis=1)))
    out = []
    for f in lib.exprs:
        one = FeatureLibrary([f], model.state_names, model.action_names)
        rms = float(np.sqrt(np.mean(one.evaluate(x, u)[:, 0] ** 2)))
        if not np.isfinite(rms) or rms == 0.0:
            continue
        for i, state in enumerate(model.state_names):
            if pinned[i]:  # held at d(position)/dt = velocity
                continue
            step = 1e-6 * problem.scale[i] / (rms * duration)
            out.append(Candidate(i, one, state in rational, step))
    return out


@dataclass
class _Scores:
    """The linearised effect of every candidate on the fit, from its sensitivities.

    Attributes:
        todo: the candidates not in the model.
        add: (n_c,) score statistics: the fall of the residual sum of squares (in noise
            variances) when the candidate is added, everything else refitted.
        value: (n_c,) the candidate's coefficient after that addition.
        swap: (n_terms, n_c) the fall when the candidate replaces term k (negative: a rise).
        swap_value: (n_terms, n_c) the candidate's coefficient after that swap.
    """

    todo: list[Candidate]
    add: np.ndarray
    value: np.ndarray
    swap: np.ndarray
    swap_value: np.ndarray


def _scores(model: Equations, fit: Fit, problem: Problem, pool: list[Candidate]) -> _Scores | None:
    """Score every candidate not in ``model`` (None when there is none). With ``H`` the
    inverse Gauss-Newton matrix, ``b = J^T c`` and ``r`` the residuals: adding ``c`` lowers the
    sum of squares by ``(c^T r)^2 / (c^T c - b^T H b)``; removing term ``a`` raises it by
    ``beta_a^2 / H_aa`` and moves the residuals to ``r' = r - J H e_a beta_a / H_aa``, after
    which ``c`` lowers it by ``(c^T r')^2 / (c^T c - b^T H b + (b^T H e_a)^2 / H_aa)``."""
    key = _key(model)
    todo = [c for c in pool if (c.row, expr_name(c.feature.exprs[0])) not in key]
    if not todo:
        return None
    st, _ = structure_of(model)
    n_c, jac = st.index[0].size, fit.jac
    gram = (jac.T @ jac).toarray()
    gram[np.diag_indices_from(gram)] += 1e-12 * np.trace(gram) / len(gram)
    h = np.linalg.inv(gram)
    h_kk, beta = np.diag(h)[:n_c], fit.theta[:n_c]
    jtr = jac.T @ fit.r
    parts = []
    per = max(1, min(32, _BATCH_VALUES // problem.seg.x.size))  # candidates per simulation
    for a in range(0, len(todo), per):
        sens = sensitivities(st, fit, problem, todo[a : a + per])
        jts = np.asarray(jac.T @ sens)
        y = h @ jts
        cr = sens.T @ fit.r - y.T @ jtr
        norm2 = np.maximum((sens**2).sum(axis=0) - (jts * y).sum(axis=0), 1e-300)
        cr_swap = cr[None, :] - y[:n_c] * (beta / h_kk)[:, None]
        norm2_swap = np.maximum(norm2[None, :] + y[:n_c] ** 2 / h_kk[:, None], 1e-300)
        gain = cr_swap**2 / norm2_swap - (beta**2 / h_kk)[:, None]
        parts.append((cr**2 / norm2, -cr / norm2, gain, -cr_swap / norm2_swap))
    add, value, swap, swap_value = (np.concatenate(x, axis=-1) for x in zip(*parts, strict=True))
    return _Scores(todo, add / fit.sigma2, value, swap / fit.sigma2, swap_value)


def _addition(
    model: E, scores: _Scores, penalty: float, seen: set
) -> tuple[E, dict[str, Any]] | None:
    """The model with the candidate of the largest score statistic, if that exceeds
    ``penalty`` and gives terms not ``seen`` before; its coefficient starts at the linearised
    estimate."""
    key = _key(model)
    for k in np.argsort(-scores.add):
        if scores.add[k] <= penalty:
            return None
        c = scores.todo[k]
        name = expr_name(c.feature.exprs[0])
        if key | {(c.row, name)} in seen:
            continue
        entry = {"step": "add", "state": model.state_names[c.row], "term": name}
        trial = _with_term(model, c, float(scores.value[k]))
        return trial, entry | {"statistic": float(scores.add[k])}
    return None


def _swap(model: E, scores: _Scores, seen: set) -> tuple[E, dict[str, Any]] | None:
    """The model with the term and candidate exchanged whose exchange lowers the linearised
    sum of squares most, if any does and gives terms not ``seen`` before (the same number of
    terms: the lower sum of squares is the better model by any information criterion)."""
    st, _ = structure_of(model)
    key = _key(model)
    flat = np.argsort(-scores.swap, axis=None)
    for k, c_idx in zip(*np.unravel_index(flat, scores.swap.shape), strict=True):
        if scores.swap[k, c_idx] <= 0.0:
            return None
        i, j = int(st.index[0][k]), int(st.index[1][k])
        old = expr_name(sp.fraction(model.library.exprs[j])[0])
        c = scores.todo[c_idx]
        new = expr_name(c.feature.exprs[0])
        if (key - {(i, old)}) | {(c.row, new)} in seen:
            continue
        trial = _with_term(_zeroed(model, i, j), c, float(scores.swap_value[k, c_idx]))
        entry = {"step": "swap", "state": model.state_names[c.row], "term": new, "replaces": old}
        return trial, entry | {"statistic": float(scores.swap[k, c_idx])}
    return None


def _zeroed(model: E, i: int, j: int) -> E:
    """``model`` with the coefficient of row ``i``, feature ``j`` set to zero."""
    coef = model.coefficients.to_numpy().copy()
    coef[i, j] = 0.0
    return type(model)(
        model.state_names, model.action_names, model.library.exprs, coef, info=model.info
    )


def _with_term(model: E, c: Candidate, value: float) -> E:
    """``model`` with ``value`` times the candidate's term in its row."""
    f = c.feature.exprs[0]
    if c.rational:
        info = model.info["rational"]
        names = (*model.state_names, *model.action_names)
        z = parse_expression(info["z"], names, what="denominator variable")
        f = f / denominator_expression(z, info["coefficients"])
    exprs = list(model.library.exprs)
    coef = model.coefficients.to_numpy().copy()
    if f not in exprs:
        exprs.append(f)
        coef = np.hstack([coef, np.zeros((coef.shape[0], 1))])
    coef[c.row, exprs.index(f)] = value
    return type(model)(model.state_names, model.action_names, exprs, coef, info=model.info)


def _removal(model: E, fit: Fit, penalty: float, seen: set) -> tuple[E, dict[str, Any]] | None:
    """The model without the term of the smallest Wald statistic ``(c / se)^2``, if that is
    below ``penalty`` and gives terms not ``seen`` before (denominators are kept)."""
    st, _ = structure_of(model)
    n_c = st.index[0].size
    wald = (fit.theta[:n_c] / np.maximum(fit.se[:n_c], 1e-300)) ** 2
    key = _key(model)
    for k in np.argsort(wald):
        if wald[k] >= penalty:
            return None
        i, j = int(st.index[0][k]), int(st.index[1][k])
        name = expr_name(sp.fraction(model.library.exprs[j])[0])
        if key - {(i, name)} in seen:
            continue
        entry = {"step": "remove", "state": model.state_names[i], "term": name}
        return _zeroed(model, i, j), entry | {"statistic": float(wald[k])}
    return None


def _select(
    model: E, fit: Fit, problem: Problem, lib: FeatureLibrary, max_evaluations: int
) -> tuple[E, Fit, list[dict[str, Any]]]:
    """Add, remove and exchange terms one at a time by the simulation error (see the
    module's text)."""
    pool = _candidates(model, lib, problem)
    penalty = log(problem.n_used) + 2.0 * log(max(len(pool), 1))
    seen = {_key(model)}
    steps: list[dict[str, Any]] = []
    for _ in range(_STEPS_PER_STATE * len(model.state_names)):
        if fit.jac.shape[1] > _MAX_COLUMNS:
            steps.append({"step": "stop", "reason": f"over {_MAX_COLUMNS} fitted numbers"})
            break
        scores = _scores(model, fit, problem, pool)
        move = (scores and _addition(model, scores, penalty, seen)) or _removal(
            model, fit, penalty, seen
        )
        if move is None and scores is not None:
            move = _swap(model, scores, seen)
        if move is None:
            break
        trial, entry = move
        st, theta0 = structure_of(trial)
        trial_fit = fit_numbers(st, theta0, problem, max_evaluations, x0=fit.x0)
        seen.add(_key(trial))
        rms = float(np.sqrt(np.sum(trial_fit.r**2) / problem.n_used))
        entry |= {"evaluations": trial_fit.evaluations, "cost": rms}
        if entry["step"] == "swap" and np.sum(trial_fit.r**2) >= np.sum(fit.r**2):
            # the linearised gain did not hold: keep the model, try the next move
            steps.append(entry | {"step": "swap rejected"})
            continue
        fit, model = trial_fit, _rebuilt(trial, st, trial_fit.theta)
        steps.append(entry)
    return model, fit, steps
