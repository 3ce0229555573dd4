"""Weak-form (integral) regression rows for ODEs with held actions (weak SINDy).

Instead of differentiating noisy states, each equation ``dx/dt = Theta(x, u) xi`` is multiplied
by a smooth test function ``phi`` that vanishes at both ends of a window ``[a, b]`` and
integrated; integration by parts moves the derivative onto ``phi``:

    -integral_a^b phi'(t) x(t) dt  =  (integral_a^b phi(t) Theta(x(t), u(t)) dt) xi.

Both sides are integrals of the samples, so the measurement noise is averaged, never
differentiated (Messenger and Bortz 2021, "Weak SINDy"). The test functions are
``phi(t) = (1 - s^2)^p`` with ``s`` running from -1 to 1 over the window (``p`` =
:data:`TEST_POWER`, pysindy's default), scaled so that ``integral phi dt = 1``: each row is then a
local average of ``dx/dt``, in the units of the derivatives. Windows of ``width`` samples start
every ``width // 4`` samples, in every trajectory. The integrals are product integrations:
states and features linear on each sample interval, the polynomial ``phi`` integrated exactly
(pysindy's weak library does the same for sampled fields).

Why not ``pysindy.WeakPDELibrary``: it integrates the controls as if they were sampled fields
(linear between samples), whereas ``u[k]`` is *held* on ``[t_k, t_{k+1})``; on each sample
interval the integrand here is ``phi(t) Theta(x(t), u_k)`` with the held action, integrated by
the trapezoid rule from ``Theta(x_k, u_k)`` and ``Theta(x_{k+1}, u_k)`` (the same quadrature
as the alignment in :mod:`hybridwm.physics.derivatives`). pysindy's library also needs a single
time grid fixed when the library is built, while a :class:`TrajectorySet` holds trajectories of
any lengths and grids, and it takes pysindy function libraries, while the features here are
hybridwm's sympy expressions (shared with the torch vector field and the printed equations).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import sparse

from hybridwm.data import TrajectorySet
from hybridwm.errors import DataError
from hybridwm.physics.derivatives import RegressionData

__all__ = ["MIN_WIDTH", "TEST_POWER", "WeakForm", "weak_regression_data", "weak_width"]

#: the exponent ``p`` of the test functions ``(1 - s^2)^p``
TEST_POWER = 4
#: the fewest samples in a test function's window
MIN_WIDTH = 7
#: Gauss-Legendre nodes per sample interval (exact for ``phi`` times a linear function)
GAUSS_POINTS = TEST_POWER + 2


def weak_width(smoothing_window: int, shortest: int) -> int:
    """The default window of the test functions: twice the smoothing window chosen for the
    data (:func:`hybridwm.physics.smoothing.choose_window`) plus one, at least
    :data:`MIN_WIDTH` and at most the shortest trajectory (an odd number of samples)."""
    width = max(MIN_WIDTH, 2 * smoothing_window + 1)
    return min(width, shortest if shortest % 2 else shortest - 1)


def _windows(t: np.ndarray, width: int) -> tuple[Any, Any, Any]:
    """Test-function weights of one trajectory, by product integration.

    On each sample interval the states are linear between the samples and the features run
    linearly from ``Theta(x_k, u_k)`` to ``Theta(x_{k+1}, u_k)`` (the held action), while the
    test function is integrated exactly (Gauss-Legendre with :data:`GAUSS_POINTS` nodes; ``phi``
    is a polynomial of degree ``2p``). A plain trapezoid rule on ``phi * Theta`` would be off by
    ``O((h p / half-width)^2)`` on the action terms (``phi`` is sharply curved, and the held
    action's jumps stop the trapezoid errors from cancelling): 0.3-0.5 % on noise-free pendulum
    coefficients with 11-sample windows, measured here.

    Returns:
        ``(dphi, left, right)``: sparse ``dphi`` (n_w, T) weights of the states, so that
        ``dphi @ x`` is the window's ``integral phi dx/dt`` for piecewise-linear ``x``; ``left``
        and ``right`` (n_w, T-1) weights of the interval values ``Theta(x_k, u_k)`` and
        ``Theta(x_{k+1}, u_k)``. Every window is scaled so that ``integral phi = 1``.
    """
    T = len(t)
    starts = np.arange(0, T - width + 1, max(1, width // 4))
    n_w, n_i = len(starts), width - 1
    icols = starts[:, None] + np.arange(n_i)  # (n_w, n_i) intervals of each window
    t0, t1 = t[icols], t[icols + 1]
    a, b = t[starts][:, None, None], t[starts + n_i][:, None, None]
    nodes, weights = np.polynomial.legendre.leggauss(GAUSS_POINTS)
    tau = 0.5 * (nodes + 1.0)  # (g,) positions in [0, 1]
    h = (t1 - t0)[..., None]
    s = (2.0 * (t0[..., None] + tau * h) - (a + b)) / (b - a)
    phi = (1.0 - s**2) ** TEST_POWER * (0.5 * weights) * h  # (n_w, n_i, g) phi dt per node
    left = (phi * (1.0 - tau)).sum(axis=2)  # integral of phi (1 - tau) over each interval
    right = (phi * tau).sum(axis=2)
    norm = (left + right).sum(axis=1, keepdims=True)
    left, right = left / norm, right / norm
    slope = (left + right) / h[..., 0]  # integral phi dt / h: the weight of x_{k+1} - x_k
    rows = np.repeat(np.arange(n_w), n_i)
    shape_s, shape_i = (n_w, T), (n_w, T - 1)
    dmat = sparse.csr_matrix((slope.reshape(-1), (rows, (icols + 1).reshape(-1))), shape=shape_s)
    dmat = dmat - sparse.csr_matrix((slope.reshape(-1), (rows, icols.reshape(-1))), shape=shape_s)
    lmat = sparse.csr_matrix((left.reshape(-1), (rows, icols.reshape(-1))), shape=shape_i)
    rmat = sparse.csr_matrix((right.reshape(-1), (rows, icols.reshape(-1))), shape=shape_i)
    return dmat, lmat, rmat


class WeakForm:
    """The test functions of a data set, built once: weak-form rows of any regressors.

    Args:
        data: the trajectories (any lengths and time grids; actions held on each interval).
        width: samples in each test function's window (>= :data:`MIN_WIDTH`).

    Raises:
        DataError: ``width`` is below :data:`MIN_WIDTH` or a trajectory is shorter than it.
    """

    def __init__(self, data: TrajectorySet, width: int) -> None:
        lengths = data.lengths
        if width < MIN_WIDTH or int(lengths.min()) < width:
            i = int(np.argmin(lengths))
            raise DataError(
                f"Weak-form windows of {width} samples need trajectories of at least that "
                f"length and at least {MIN_WIDTH} samples per window; trajectory {i} has "
                f"{int(lengths[i])}. Use a smaller `weak_window` or drop short trajectories."
            )
        mats = [_windows(tr.t, width) for tr in data]
        self._left = sparse.block_diag([m[1] for m in mats], format="csr")
        self._right = sparse.block_diag([m[2] for m in mats], format="csr")
        dmat = sparse.block_diag([m[0] for m in mats], format="csr")
        self.dx = np.asarray(dmat @ np.concatenate([tr.x for tr in data]))
        self.held = np.concatenate([tr.u[:-1] for tr in data])  # the action of each interval
        self.x_left = np.concatenate([tr.x[:-1] for tr in data])
        self.x_right = np.concatenate([tr.x[1:] for tr in data])
        counts = [m[0].shape[0] for m in mats]
        self.trajectory = np.repeat(np.arange(len(data)), counts)
        step = max(1, width // 4)
        self.row = np.concatenate([np.arange(c) * step + width // 2 for c in counts])

    def integrate(self, fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
        """(n_windows, k) test-function averages of ``fn(x, u)`` ((N, n_x), (N, n_u) ->
        (N, k)), with the held action on every interval."""
        left = np.asarray(fn(self.x_left, self.held), dtype=np.float64)
        right = np.asarray(fn(self.x_right, self.held), dtype=np.float64)
        return np.asarray(self._left @ left + self._right @ right)

    def rows(
        self,
        fn: Callable[[np.ndarray, np.ndarray], np.ndarray],
        check: Callable[[np.ndarray, str], None] | None = None,
    ) -> RegressionData:
        """Weak-form rows of ``dx/dt = fn(x, u) @ C.T``.

        Args:
            fn: maps ``x`` (N, n_x) and ``u`` (N, n_u) to the regressors (N, k).
            check: called as ``check(values, where)`` on the evaluated regressors (NaN/inf).

        Returns:
            :class:`RegressionData` with one row per window: ``theta`` (n_windows, k) the
            test-function averages of the regressors, ``dx`` (n_windows, n_x) those of the
            derivatives; ``trajectory`` the trajectory of each window and ``row`` its middle
            sample.
        """

        def checked(x: np.ndarray, u: np.ndarray) -> np.ndarray:
            values = np.asarray(fn(x, u), dtype=np.float64)
            if check is not None:
                where = "the data" if x is self.x_left else "the data (next sample, held action)"
                check(values, where)
            return values

        return RegressionData(
            theta=self.integrate(checked), dx=self.dx, trajectory=self.trajectory, row=self.row
        )


def weak_regression_data(
    data: TrajectorySet,
    fn: Callable[[np.ndarray, np.ndarray], np.ndarray],
    width: int,
    *,
    check: Callable[[np.ndarray, str], None] | None = None,
) -> RegressionData:
    """Weak-form rows of ``dx/dt = fn(x, u) @ C.T`` over all trajectories
    (``WeakForm(data, width).rows(fn, check)``; see :class:`WeakForm`)."""
    return WeakForm(data, width).rows(fn, check)
