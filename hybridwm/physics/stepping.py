"""Fixed-step RK4 with actions held on each sample interval (numpy).

The one integrator of the numpy side of :mod:`hybridwm.physics`: :meth:`PhysicsModel.simulate`
steps a shared time grid with it, :mod:`hybridwm.physics.output_error` segments with their own
interval lengths (zero on padding, where the state stays put).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["rk4_held"]


def rk4_held(
    f: Callable[[np.ndarray, np.ndarray], np.ndarray],
    x0: np.ndarray,
    u: np.ndarray,
    h: np.ndarray,
    substeps: int = 1,
) -> np.ndarray:
    """Fixed-step RK4 of ``dx/dt = f(x, u)`` with ``u[:, k]`` held on interval ``k``.

    Args:
        f: maps ``x`` (n, n_x) and ``u`` (n, n_u) to dx/dt (n, n_x).
        x0: (n, n_x) initial states.
        u: (n, >= K, n_u) held actions.
        h: (K,) interval lengths shared by all rows, or (n, K) one set per row.
        substeps: RK4 steps per interval.

    Returns:
        (n, K + 1, n_x) states at the interval ends, ``x0`` first (NaN/inf where the solution
        diverged).
    """
    n_k = h.shape[-1]
    out = np.empty((x0.shape[0], n_k + 1, x0.shape[1]))
    out[:, 0] = x0
    x = x0.copy()
    with np.errstate(all="ignore"):
        for k in range(n_k):
            uk = u[:, k]
            step = h[k] / substeps if h.ndim == 1 else h[:, k : k + 1] / substeps
            for _ in range(substeps):
                k1 = f(x, uk)
                k2 = f(x + 0.5 * step * k1, uk)
                k3 = f(x + 0.5 * step * k2, uk)
                k4 = f(x + step * k3, uk)
                x = x + (step / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
            out[:, k + 1] = x
    return out
