"""Output-error least squares: fitting equations' numbers to measured states by simulation.

The numerical core of :mod:`hybridwm.physics.refinement`: the free numbers of discovered
equations (non-zero coefficients, a rational model's denominator), trajectories cut into
segments of equal length, their RK4 simulation with held actions, and the trust-region fit of
numbers and segment starts together (scipy ``least_squares(method="trf")`` with a block-sparse
finite-difference Jacobian), with the Gauss-Newton standard errors at the solution.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import sympy as sp
from scipy import sparse
from scipy.optimize import least_squares

from hybridwm.data import TrajectorySet
from hybridwm.physics.equations import Equations
from hybridwm.physics.expressions import parse_expression
from hybridwm.physics.features import FeatureLibrary
from hybridwm.physics.kinematics import pinned_rows
from hybridwm.physics.rational import denominator_expression
from hybridwm.physics.stepping import rk4_held

__all__ = [
    "Candidate",
    "Fit",
    "Problem",
    "Structure",
    "fit_numbers",
    "sensitivities",
    "structure_of",
]

#: a vector field ``f(x (B, n_x), u (B, n_u)) -> (B, n_x)``
Field = Callable[[np.ndarray, np.ndarray], np.ndarray]

#: residual value that stands for a diverged (NaN/inf) simulation
_DIVERGED = 1e3


@dataclass
class Structure:
    """The free coefficients of a model and how to evaluate its vector field with them.

    Attributes:
        plain: the features that are not divided by a denominator (None: there are none).
        numerators: the numerators of the features ``numerator / D`` (None: there are none).
        rational: (n_f,) whether feature j is ``numerator / D``.
        index: (rows, cols) of the free (non-zero) coefficients.
        z: the denominator's variable as a one-feature library (None: no denominator).
        powers: (n_d,) the powers of ``z`` whose coefficients are free.
        degree: the denominator's degree.
        fixed: (n_x, n_f) coefficients held at their values (the rows ``info["kinematics"]``
            pins, :mod:`hybridwm.physics.kinematics`), zero elsewhere; None: none held.
    """

    plain: FeatureLibrary | None
    numerators: FeatureLibrary | None
    rational: np.ndarray
    index: tuple[np.ndarray, np.ndarray]
    z: FeatureLibrary | None
    powers: np.ndarray
    degree: int
    fixed: np.ndarray | None = None

    def field(self, x: np.ndarray, u: np.ndarray, theta: np.ndarray) -> np.ndarray:
        """dx/dt (B, n_x) at states ``x`` (B, n_x) and actions ``u`` (B, n_u) under the free
        values ``theta`` (coefficients, then the denominator's)."""
        n_c = self.index[0].size
        coef = (
            np.zeros((x.shape[1], self.rational.size)) if self.fixed is None else self.fixed.copy()
        )
        coef[self.index] = theta[:n_c]
        out = np.zeros_like(x)
        if self.plain is not None:
            out = out + self.plain.evaluate(x, u) @ coef[:, ~self.rational].T
        if self.numerators is not None:
            num = self.numerators.evaluate(x, u) @ coef[:, self.rational].T
            out = out + num / self.denominator(x, u, theta)[:, None]
        return out

    def denominator(self, x: np.ndarray, u: np.ndarray, theta: np.ndarray) -> np.ndarray:
        """(B,) ``D(z)`` at ``x`` and ``u`` under ``theta`` (ones without a denominator)."""
        if self.z is None:
            return np.ones(x.shape[0])
        z = self.z.evaluate(x, u)[:, 0]
        d = theta[self.index[0].size :]
        return 1.0 + np.stack([z**p for p in self.powers], axis=-1) @ d  # type: ignore[no-any-return]


def _library(exprs: list[sp.Expr], model: Equations) -> FeatureLibrary | None:
    return FeatureLibrary(exprs, model.state_names, model.action_names) if exprs else None


def structure_of(model: Equations) -> tuple[Structure, np.ndarray]:
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
            if den != 1 and (den == old or sp.simplify(den - old) == 0):
                exprs[j], rational[j] = num, True
        d = np.asarray(info["coefficients"], dtype=np.float64)
        degree = d.size
        powers = np.flatnonzero(d != 0) + 1
        d_free = d[powers - 1]
        z_lib = FeatureLibrary([z], model.state_names, model.action_names)
    plain = _library([e for e, r in zip(exprs, rational, strict=True) if not r], model)
    numerators = _library([e for e, r in zip(exprs, rational, strict=True) if r], model)
    pinned = pinned_rows(model.info, model.state_names)
    coef = model.coefficients.to_numpy()
    index = np.nonzero(model.mask & ~pinned[:, None])
    fixed = np.where(pinned[:, None], coef, 0.0) if pinned.any() else None
    theta = np.concatenate([coef[index], d_free])
    structure = Structure(plain, numerators, rational, index, z_lib, powers, degree, fixed)
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
    """Cut every trajectory into pieces of ``segment`` intervals; a remainder shorter than half
    a segment joins the last piece (so no piece spends a fitted start on a few samples)."""
    pieces = []
    for tr in data:
        last = len(tr.t) - 1
        starts = list(range(0, last, segment))
        if len(starts) > 1 and last - starts[-1] < segment // 2:
            starts.pop()
        for a, b in zip(starts, [*starts[1:], last], strict=True):
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


def _simulate(field: Field, seg: _Segments, x0: np.ndarray) -> np.ndarray:
    """RK4 of every segment of ``dx/dt = field(x, u)`` from ``x0`` (S, n_x): (S, L + 1, n_x)."""
    return rk4_held(field, x0, seg.u, seg.h)


@dataclass
class Problem:
    """Measured trajectories cut into segments, and the scale of each state's residual.

    Attributes:
        seg: the segments.
        scale: (n_x,) each state's standard deviation over the data (1 where constant).
        n_used: the number of measured residuals (samples x states, padding excluded).
    """

    seg: _Segments
    scale: np.ndarray
    n_used: int

    @classmethod
    def of(cls, data: TrajectorySet, segment: int) -> Problem:
        seg = _segments(data, segment)
        scale = np.concatenate([tr.x for tr in data]).std(axis=0)
        scale[scale == 0] = 1.0
        return cls(seg, scale, int(seg.weight.sum()) * data.n_x)

    def residuals(self, st: Structure, theta: np.ndarray, x0: np.ndarray) -> np.ndarray:
        """(S * (L + 1) * n_x,) simulated minus measured states in units of each state's
        standard deviation, zero on padding (``x0``: (S, n_x) segment starts)."""
        return self.normalised(_simulate(lambda x, u: st.field(x, u, theta), self.seg, x0))

    def normalised(self, sim: np.ndarray) -> np.ndarray:
        """Residuals of simulated states ``sim`` (k * S, L + 1, n_x), k copies of the segments:
        (k * S * (L + 1) * n_x,)."""
        copies = sim.shape[0] // self.seg.x.shape[0]
        x, w = np.tile(self.seg.x, (copies, 1, 1)), np.tile(self.seg.weight, (copies, 1))
        r = (sim - x) / self.scale * w[..., None]
        return np.clip(np.nan_to_num(r, nan=_DIVERGED), -_DIVERGED, _DIVERGED).ravel()  # type: ignore[no-any-return]


@dataclass
class Fit:
    """The solution of :func:`fit_numbers`.

    Attributes:
        theta: (n_t,) the fitted numbers (coefficients, then the denominator's).
        x0: (S, n_x) the fitted segment starts.
        jac: (S * (L + 1) * n_x, n_t + S * n_x) the Jacobian at the solution.
        r: the residuals at the solution; ``r0``: at the start.
        sigma2: the noise variance estimated from the residuals (in units of the state std).
        se: (n_t,) standard errors of ``theta``.
        evaluations: residual evaluations used; ``message``: the solver's.
    """

    theta: np.ndarray
    x0: np.ndarray
    jac: sparse.csr_matrix
    r: np.ndarray
    r0: np.ndarray
    sigma2: float
    se: np.ndarray
    evaluations: int
    message: str


def fit_numbers(
    st: Structure,
    theta0: np.ndarray,
    problem: Problem,
    max_evaluations: int,
    x0: np.ndarray | None = None,
) -> Fit:
    """Fit ``theta`` and the segment starts by least squares on ``problem``'s residuals,
    starting from ``theta0`` and ``x0`` (default: each segment's first measured sample)."""
    seg = problem.seg
    n_t, (n_s, n_k, n_x) = theta0.size, seg.x.shape
    start = seg.x[:, 0] if x0 is None else x0

    def residuals(q: np.ndarray) -> np.ndarray:
        return problem.residuals(st, q[:n_t], q[n_t:].reshape(n_s, n_x))

    rows = n_k * n_x
    pattern = sparse.hstack(
        [
            sparse.csr_matrix(np.ones((n_s * rows, n_t))),
            sparse.kron(sparse.eye(n_s), np.ones((rows, n_x))),
        ]
    ).tocsr()
    q0 = np.concatenate([theta0, start.ravel()])
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
    jac = sparse.csr_matrix(sol.jac)
    sigma2 = 2.0 * sol.cost / max(problem.n_used - sol.x.size, 1)
    se = _standard_errors(jac, n_t, n_s, rows, n_x) * np.sqrt(sigma2)
    x0_fit = sol.x[n_t:].reshape(n_s, n_x)
    return Fit(sol.x[:n_t], x0_fit, jac, sol.fun, r0, sigma2, se, int(sol.nfev), str(sol.message))


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


@dataclass
class Candidate:
    """A term not in the equations: ``feature`` (divided by ``D`` when ``rational``) in row ``row``.

    Attributes:
        row: the state whose derivative would get the term.
        feature: the term's feature, a one-feature library.
        rational: whether the term is divided by the model's denominator.
        step: the coefficient of the finite difference.
    """

    row: int
    feature: FeatureLibrary
    rational: bool
    step: float


def sensitivities(
    st: Structure, fit: Fit, problem: Problem, candidates: Sequence[Candidate]
) -> np.ndarray:
    """(n_residuals, n_candidates) derivatives of the residuals at ``fit`` with respect to each
    candidate's coefficient at zero: one batched simulation with a copy of every segment per
    candidate, each copy's term set to its finite-difference step."""
    n_s = problem.seg.x.shape[0]

    def field(x: np.ndarray, u: np.ndarray) -> np.ndarray:
        out = st.field(x, u, fit.theta)
        for k, c in enumerate(candidates):
            rows = slice(k * n_s, (k + 1) * n_s)
            value = c.feature.evaluate(x[rows], u[rows])[:, 0]
            if c.rational:
                value = value / st.denominator(x[rows], u[rows], fit.theta)
            out[rows, c.row] += c.step * value
        return out

    copies = len(candidates)
    seg = problem.seg
    big = _Segments(
        np.tile(seg.x, (copies, 1, 1)),
        np.tile(seg.u, (copies, 1, 1)),
        np.tile(seg.h, (copies, 1)),
        np.tile(seg.weight, (copies, 1)),
    )
    r = problem.normalised(_simulate(field, big, np.tile(fit.x0, (copies, 1))))
    steps = np.array([c.step for c in candidates])
    return (r.reshape(copies, -1) - fit.r[None, :]).T / steps
