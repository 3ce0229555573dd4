"""Fixtures for the physics tests: tiny pendulum data from scipy and (when available) MuJoCo."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from hybridwm.data import Trajectory, TrajectorySet

# dtheta = omega; domega = -G sin(theta) - B omega + K torque  (MuJoCo pendulum defaults)
G, B, K = 14.715, 0.15, 3.0
TRUE = {"theta": {"omega": 1.0}, "omega": {"sin(theta)": -G, "omega": -B, "torque": K}}


def pendulum_rhs(x: np.ndarray, u: float) -> np.ndarray:
    return np.array([x[1], -G * np.sin(x[0]) - B * x[1] + K * u])


def scipy_pendulum(
    n: int = 4, T: int = 301, dt: float = 0.01, hold: int = 7, seed: int = 0, t_grid=None
) -> TrajectorySet:
    """Pendulum trajectories with zero-order-hold torques, integrated to 1e-11 by scipy."""
    rng = np.random.default_rng(seed)
    trajs = []
    for _ in range(n):
        t = np.arange(T) * dt if t_grid is None else np.asarray(t_grid)
        u = np.repeat(rng.uniform(-1, 1, size=len(t) // hold + 1), hold)[: len(t)]
        x = np.empty((len(t), 2))
        x[0] = [rng.uniform(-1.5, 1.5), rng.uniform(-1, 1)]
        k = 0
        while k < len(t) - 1:
            j = k + 1
            while j < len(t) - 1 and u[j] == u[k]:
                j += 1
            sol = solve_ivp(
                lambda _t, y, uk=u[k]: pendulum_rhs(y, uk),
                (t[k], t[j]),
                x[k],
                t_eval=t[k : j + 1],
                rtol=1e-11,
                atol=1e-12,
                method="DOP853",
            )
            x[k : j + 1] = sol.y.T
            k = j
        trajs.append(
            Trajectory(t, x, u[:, None], ("theta", "omega"), ("torque",), {"system": "pendulum"})
        )
    return TrajectorySet(trajs)


@pytest.fixture(scope="session")
def pendulum_data() -> TrajectorySet:
    return scipy_pendulum()


def _mujoco_available() -> bool:
    try:
        from hybridwm.systems import simulate  # noqa: F401
    except Exception:
        return False
    return True


@pytest.fixture(scope="session")
def mujoco_pendulum() -> TrajectorySet:
    """20 MuJoCo pendulum trajectories x 501 samples (dt = 0.01); skipped without MuJoCo."""
    if not _mujoco_available():
        pytest.skip("hybridwm.systems (MuJoCo) is not available")
    from hybridwm.systems import simulate

    return simulate(
        system="pendulum", scenario="train", n_trajectories=20, duration=5.0, dt=0.01, seed=0
    )


def add_noise(data: TrajectorySet, level: float = 0.01, seed: int = 1) -> TrajectorySet:
    """Gaussian noise of ``level`` times each state's std over the whole set."""
    return data.add_noise(level, seed=seed)


@pytest.fixture(scope="session")
def make_pendulum():
    """The :func:`scipy_pendulum` factory."""
    return scipy_pendulum


@pytest.fixture(scope="session")
def noise():
    """The :func:`add_noise` helper."""
    return add_noise


@pytest.fixture(scope="session")
def true_pendulum() -> dict[str, dict[str, float]]:
    """True pendulum coefficients keyed by state and feature name."""
    return TRUE
