"""Weak-form rows with held actions: exact on polynomial signals, noise-free recovery."""

from __future__ import annotations

import numpy as np
import pytest

from hybridwm.data import Trajectory, TrajectorySet
from hybridwm.errors import DataError
from hybridwm.physics import DiscoverConfig, discover
from hybridwm.physics.weak import MIN_WIDTH, WeakForm, weak_regression_data, weak_width


def _held_linear(n_traj: int = 3, T: int = 200, dt: float = 0.01, seed: int = 0):
    """dx/dt = -a x + b u with u held: the exact solution on each interval."""
    rng = np.random.default_rng(seed)
    a, b = 0.7, 2.0
    trajs = []
    for _ in range(n_traj):
        u = np.repeat(rng.uniform(-1, 1, T // 9 + 1), 9)[:T]
        x = np.empty(T)
        x[0] = rng.uniform(-1, 1)
        for k in range(T - 1):
            ss = b * u[k] / a
            x[k + 1] = ss + (x[k] - ss) * np.exp(-a * dt)
        trajs.append(Trajectory(np.arange(T) * dt, x[:, None], u[:, None], ("x",), ("u",)))
    return TrajectorySet(trajs), a, b


def test_weak_rows_recover_a_held_input_ode_to_second_order():
    data, a, b = _held_linear()
    reg = weak_regression_data(data, lambda x, u: np.column_stack([x[:, 0], u[:, 0]]), 21)
    coef = np.linalg.lstsq(reg.theta, reg.dx, rcond=None)[0][:, 0]
    # states linear between samples: second order in the step, (a dt)^2 = 4.9e-5
    np.testing.assert_allclose(coef, [-a, b], rtol=(a * 0.01) ** 2)
    assert reg.theta.shape[0] == 3 * len(range(0, 200 - 21 + 1, 5))
    assert set(reg.trajectory.tolist()) == {0, 1, 2} and reg.row[0] == 10


def test_weak_discovery_on_a_nonuniform_grid(make_pendulum, true_pendulum):
    t = np.cumsum(np.r_[0.0, np.tile([0.008, 0.012], 120)])
    data = make_pendulum(n=3, seed=4, t_grid=t, hold=6)
    model = discover(data, config=DiscoverConfig(library="trig", method="weak", weak_window=31))
    assert model.info["weak"]["window"] == 31 and model.info["form"] == "weak"
    found = model.compare(true_pendulum)
    real = found[found["true"] != 0]
    assert float(real["rel_error"].max()) < 1e-3
    assert int(((found["true"] == 0) & (found["found"] != 0)).sum()) == 0


def test_weak_width_and_errors():
    assert weak_width(5, 500) == 11 and weak_width(2, 500) == MIN_WIDTH
    assert weak_width(40, 60) == 59
    data, *_ = _held_linear(T=20)
    with pytest.raises(DataError, match=r"Weak-form windows of 31 samples.*trajectory 0 has 20"):
        WeakForm(data, 31)
    with pytest.raises(DataError, match="at least 7 samples per window"):
        WeakForm(data, 5)
