"""Refining discovered coefficients by simulation error: output-error least squares.

Sparse regression fits derivatives (or their weak-form integrals) computed from the noisy
states, so the regressors carry the noise as well as the targets: the coefficients are biased
(errors in variables), most of all the small ones and a rational model's denominator. With the
terms fixed, :func:`refine_coefficients` fits the non-zero coefficients again by the error of
free-running simulations against the measured states, the maximum-likelihood fit under white
measurement noise:

* each trajectory is cut into segments of at most ``segment`` intervals, simulated with RK4
  and the actions held on each interval (as :meth:`~hybridwm.physics.PhysicsModel.simulate`);
* every segment's initial state is a free parameter too (a noisy first sample is not where the
  true trajectory started), so segments and coefficients are fitted together;
* residuals are divided by each state's standard deviation; scipy's trust-region
  least squares (``least_squares(method="trf")``) solves it, with a finite-difference Jacobian
  whose block structure (coefficients: every row; an initial state: its segment's rows) keeps
  the cost at one simulation per coefficient and per state component.

The Gauss-Newton covariance at the solution gives each coefficient's standard error
(``info["refinement"]["standard_errors"]``): the Cramér-Rao bound of these data under white
noise, the precision no unbiased estimator of this structure can beat. Terms stay as they are
(a zero stays zero); a rational model's non-zero denominator coefficients are refined with the
numerators.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import sympy as sp
from scipy import sparse
from scipy.optimize import least_squares

from hybridwm.data import TrajectorySet
from hybridwm.errors import ConfigError, DataError, UnknownNameError
from hybridwm.physics.equations import Equations
from hybridwm.physics.expressions import expr_name, parse_expression
from hybridwm.physics.features import FeatureLibrary
from hybridwm.physics.rational import denominator_expression

if TYPE_CHECKING:
    from hybridwm.physics.model import PhysicsModel

__all__ = ["refine_coefficients"]

#: residual value that stands for a diverged (NaN/inf) simulation
_DIVERGED = 1e3


@dataclass
class _Structure:
    """The free coefficients of a model and how to evaluate its vector field with them.

    Attributes:
        plain: the features that are not divided by a denominator (None: there are none).
        numerators: the numerators of the features ``numerator / D`` (None: there are none).
        rational: (n_f,) whether feature j is ``numerator / D``.
        index: (rows, cols) of the free (non-zero) coefficients.
        z: the denominator's variable as a one-feature library (None: no denominator).
        powers: (n_d,) the powers of ``z`` whose coefficients are free.
        degree: the denominator's degree.
    """

    plain: FeatureLibrary | None
    numerators: FeatureLibrary | None
    rational: np.ndarray
    index: tuple[np.ndarray, np.ndarray]
    z: FeatureLibrary | None
    powers: np.ndarray
    degree: int

    def field(self, x: np.ndarray, u: np.ndarray, theta: np.ndarray) -> np.ndarray:
        """dx/dt (B, n_x) at states ``x`` (B, n_x) and actions ``u`` (B, n_u) under the free
        values ``theta`` (coefficients, then the denominator's)."""
        n_c = self.index[0].size
        coef = np.zeros((x.shape[1], self.rational.size))
        coef[self.index] = theta[:n_c]
        out = np.zeros_like(x)
        if self.plain is not None:
            out = out + self.plain.evaluate(x, u) @ coef[:, ~self.rational].T
        if self.numerators is not None and self.z is not None:
            z = self.z.evaluate(x, u)[:, 0]
            den = 1.0 + np.stack([z**p for p in self.powers], axis=-1) @ theta[n_c:]
            num = self.numerators.evaluate(x, u) @ coef[:, self.rational].T
            out = out + num / den[:, None]
        return out


def _library(exprs: list[sp.Expr], model: PhysicsModel) -> FeatureLibrary | None:
    return FeatureLibrary(exprs, model.state_names, model.action_names) if exprs else None


def _structure(model: PhysicsModel) -> tuple[_Structure, np.ndarray]:
    """The model's free coefficients (``theta``, coefficients then denominator) and structure."""
    exprs = list(model.library.exprs)
    rational = np.zeros(len(exprs), dtype=bool)
    z_lib, powers, degree, d_free = None, np.zeros(0, dtype=np.int64), 0, np.zeros(0)
    info = model.info.get("rational")
    if info:
        names = (*model.state_names, *model.action_names)
        z = parse_expression(info["z"], names, what="denominator variable")
        old = denominator_expression(z, info["coefficients"])
        for j, e in enumerate(exprs):
            num, den = sp.fraction(e)
            if den != 1 and sp.simplify(den - old) == 0:
                exprs[j], rational[j] = num, True
        d = np.asarray(info["coefficients"], dtype=np.float64)
        degree = d.size
        powers = np.flatnonzero(d != 0) + 1
        d_free = d[powers - 1]
        z_lib = FeatureLibrary([z], model.state_names, model.action_names)
    plain = _library([e for e, r in zip(exprs, rational, strict=True) if not r], model)
    numerators = _library([e for e, r in zip(exprs, rational, strict=True) if r], model)
    index = np.nonzero(model.mask)
    theta = np.concatenate([model.coefficients.to_numpy()[index], d_free])
    structure = _Structure(plain, numerators, rational, index, z_lib, powers, degree)
    return structure, theta


@dataclass
class _Segments:
    """Trajectory pieces of equal length (padded), simulated side by side.

    Attributes:
        x: (S, L + 1, n_x) measured states.
        u: (S, L, n_u) actions held on each interval.
        h: (S, L) interval lengths (0 on padding: the state stays put).
        weight: (S, L + 1) 1 on measured samples, 0 on padding.
    """

    x: np.ndarray
    u: np.ndarray
    h: np.ndarray
    weight: np.ndarray


def _segments(data: TrajectorySet, segment: int) -> _Segments:
    """Cut every trajectory into pieces of at most ``segment`` intervals."""
    pieces = []
    for tr in data:
        n = len(tr.t)
        for a in range(0, n - 1, segment):
            b = min(a + segment, n - 1)
            pieces.append((tr.x[a : b + 1], tr.u[a:b], np.diff(tr.t[a : b + 1])))
    length = max(len(h) for _, _, h in pieces)
    n_s, n_x = len(pieces), data.n_x
    x = np.zeros((n_s, length + 1, n_x))
    u = np.zeros((n_s, length, data.n_u))
    h = np.zeros((n_s, length))
    w = np.zeros((n_s, length + 1))
    for s, (xs, us, hs) in enumerate(pieces):
        k = len(hs)
        x[s, : k + 1], x[s, k + 1 :] = xs, xs[-1]
        h[s, :k], w[s, : k + 1] = hs, 1.0
        u[s, :k], u[s, k:] = us, us[-1]
    return _Segments(x, u, h, w)


def _simulate(st: _Structure, seg: _Segments, theta: np.ndarray, x0: np.ndarray) -> np.ndarray:
    """RK4 of every segment from ``x0`` (S, n_x): (S, L + 1, n_x) states."""
    out = np.empty_like(seg.x)
    out[:, 0] = x = x0
    with np.errstate(all="ignore"):
        for k in range(seg.h.shape[1]):
            uk = seg.u[:, k]
            h = seg.h[:, k : k + 1]
            k1 = st.field(x, uk, theta)
            k2 = st.field(x + 0.5 * h * k1, uk, theta)
            k3 = st.field(x + 0.5 * h * k2, uk, theta)
            k4 = st.field(x + h * k3, uk, theta)
            x = x + (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
            out[:, k + 1] = x
    return out


def _check(model: Any, data: Any, segment: Any, max_evaluations: Any) -> None:
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
    if not model.mask.any():
        raise ConfigError("`model` has no non-zero coefficient to refine.")
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
    for name, value, low in (("segment", segment, 1), ("max_evaluations", max_evaluations, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ConfigError(f"`{name}` must be an integer >= {low}. Got {value!r}.")


def refine_coefficients(
    model: PhysicsModel, data: TrajectorySet, *, segment: int = 300, max_evaluations: int = 30
) -> PhysicsModel:
    """Refine a discovered model's non-zero coefficients by free-run simulation error.

    Args:
        model: discovered equations (numbers as coefficients; a rational model's denominator
            is refined too). Its terms are kept: zeros stay zero.
        data: trajectories with the model's states and actions (in order), no missing values;
            actions are held on each interval.
        segment: the most intervals one simulated piece covers; longer trajectories are cut,
            and each piece's initial state is fitted. Shorter pieces suit systems whose
            simulations drift apart quickly (unstable or chaotic ones).
        max_evaluations: the most Jacobian-and-residual evaluations of the least squares.

    Returns:
        A new model with the refined coefficients and ``info["refinement"]``: the segments,
        the evaluations, the solver's message, the RMS normalised residual before and after
        (``cost``), the noise estimate, and each free coefficient's standard error
        (``standard_errors``: ``{state: {term: se}}``; a denominator's under ``"D: z^k"``).
        Bagging statistics (``ensemble``) belong to the regression and are dropped.

    Raises:
        ConfigError: ``model`` is not a discovered PhysicsModel (a declared prior, observation
            equations, no non-zero coefficient) or ``segment`` / ``max_evaluations`` < 1.
        DataError: ``data`` is not a TrajectorySet or has missing values.
        UnknownNameError: ``data``'s states or actions differ from the model's.
    """
    _check(model, data, segment, max_evaluations)
    st, theta0 = _structure(model)
    seg = _segments(data, int(segment))
    stacked = np.concatenate([tr.x for tr in data])
    scale = stacked.std(axis=0)
    scale[scale == 0] = 1.0
    n_t, (n_s, n_k, n_x) = theta0.size, seg.x.shape

    def residuals(q: np.ndarray) -> np.ndarray:
        sim = _simulate(st, seg, q[:n_t], q[n_t:].reshape(n_s, n_x))
        r = (sim - seg.x) / scale * seg.weight[..., None]
        return np.clip(np.nan_to_num(r, nan=_DIVERGED), -_DIVERGED, _DIVERGED).ravel()

    rows = n_k * n_x
    pattern = sparse.hstack(
        [
            sparse.csr_matrix(np.ones((n_s * rows, n_t))),
            sparse.kron(sparse.eye(n_s), np.ones((rows, n_x))),
        ]
    ).tocsr()
    q0 = np.concatenate([theta0, seg.x[:, 0].ravel()])
    r0 = residuals(q0)
    sol = least_squares(
        residuals,
        q0,
        jac_sparsity=pattern,
        method="trf",
        x_scale="jac",
        max_nfev=int(max_evaluations),
        ftol=1e-10,
        xtol=1e-10,
        gtol=1e-10,
    )
    n_used = int(seg.weight.sum()) * n_x
    sigma2 = 2.0 * sol.cost / max(n_used - sol.x.size, 1)
    se = _standard_errors(sparse.csr_matrix(sol.jac), n_t, n_s, rows, n_x) * np.sqrt(sigma2)
    record = {
        "segments": n_s,
        "segment": int(segment),
        "evaluations": int(sol.nfev),
        "message": str(sol.message),
        "cost": {
            "before": float(np.sqrt(np.mean(r0**2) * r0.size / n_used)),
            "after": float(np.sqrt(2.0 * sol.cost / n_used)),
        },
        "noise": float(np.sqrt(sigma2)),
    }
    return _rebuilt(model, st, sol.x[:n_t], se, record)


def _standard_errors(jac: sparse.csr_matrix, n_t: int, n_s: int, rows: int, n_x: int) -> np.ndarray:
    """(n_t,) standard errors (for unit noise) of the first ``n_t`` unknowns: the square roots
    of the diagonal of the inverse Gauss-Newton matrix, the segments' initial states
    eliminated one block at a time (Schur complement)."""
    jc = jac[:, :n_t].toarray()
    info = jc.T @ jc
    for s in range(n_s):
        block = slice(s * rows, (s + 1) * rows)
        js = jac[block, n_t + s * n_x : n_t + (s + 1) * n_x].toarray()
        b = jc[block].T @ js
        info -= b @ np.linalg.pinv(js.T @ js) @ b.T
    cov = np.linalg.pinv(info)
    return np.sqrt(np.clip(np.diag(cov), 0.0, None))  # type: ignore[no-any-return]


def _rebuilt(
    model: PhysicsModel, st: _Structure, theta: np.ndarray, se: np.ndarray, record: dict
) -> PhysicsModel:
    """``model`` with the refined values ``theta`` (and their standard errors ``se``)."""
    n_c = st.index[0].size
    coef = model.coefficients.to_numpy().copy()
    coef[st.index] = theta[:n_c]
    exprs = list(model.library.exprs)
    info = {k: v for k, v in model.info.items()}
    nums = [sp.fraction(e)[0] if r else e for e, r in zip(exprs, st.rational, strict=True)]
    names = [expr_name(e) for e in nums]
    errors: dict[str, dict[str, float]] = {s: {} for s in model.state_names}
    for i, j, e in zip(*st.index, se[:n_c], strict=True):
        errors[model.state_names[i]][names[j]] = float(e)
    if st.z is not None:
        rational = dict(info["rational"])
        d = np.zeros(st.degree)
        d[st.powers - 1] = theta[n_c:]
        z = st.z.exprs[0]
        den = denominator_expression(z, d)
        exprs = [n / den if r else e for n, e, r in zip(nums, exprs, st.rational, strict=True)]
        for p, e in zip(st.powers, se[n_c:], strict=True):
            term = f"D: {expr_name(z ** int(p))}"
            for state in rational["rational_states"]:
                errors[state][term] = float(e)
        info["rational"] = rational | {
            "coefficients": [float(v) for v in d],
            "denominator": str(den),
        }
    info["refinement"] = record | {"standard_errors": errors}
    return type(model)(model.state_names, model.action_names, exprs, coef, info=info)
