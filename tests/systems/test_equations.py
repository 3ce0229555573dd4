"""Closed-form equations: constants read from the model, integrated against MuJoCo."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest
from scipy.integrate import solve_ivp

from hybridwm.errors import ConfigError, UnknownNameError
from hybridwm.systems import feature_key, get_system
from hybridwm.systems.equations import (
    acrobot_equations,
    cartpole_equations,
    pendulum_equations,
    reacher_equations,
)

EQUATIONS = {
    "pendulum": pendulum_equations,
    "cartpole": cartpole_equations,
    "acrobot": acrobot_equations,
    "reacher": reacher_equations,
}


def _integrate_zoh(f, x0, u, dt):
    """Integrate dx/dt = f(x, u_k) piecewise over each control interval (tight tolerances)."""
    xs = [np.asarray(x0, dtype=float)]
    for uk in u:
        sol = solve_ivp(
            lambda _t, y, uk=uk: f(y, uk),
            (0.0, dt),
            xs[-1],
            method="DOP853",
            rtol=1e-12,
            atol=1e-12,
        )
        xs.append(sol.y[:, -1])
    return np.array(xs)


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("pendulum", {}),
        ("pendulum", {"mass": 1.7, "length": 0.6, "gear": 2.0}),
        ("cartpole", {}),
        ("cartpole", {"pole_mass": 0.3, "pole_length": 0.7, "cart_damping": 0.5}),
    ],
)
def test_closed_form_matches_mujoco_over_two_seconds(name, params):
    s = get_system(name).with_parameters(**params)
    rng = np.random.default_rng(3)
    dt, steps = 0.01, 200
    x0 = rng.uniform(-1.0, 1.0, size=(2, s.n_x))
    b = s.action_bounds
    u = rng.uniform(b[:, 0], b[:, 1], size=(2, steps, s.n_u))
    ts = s.simulate(x0, u, dt)
    eqs = s.true_equations()
    for i in range(2):
        ref = _integrate_zoh(eqs.f, x0[i], u[i], dt)
        # measured here: max error ~1e-9 (MuJoCo RK4 at 2 ms vs DOP853 at 1e-12)
        assert np.abs(ref - ts[i].x).max() < 1e-6


@pytest.mark.parametrize("name", ["pendulum", "cartpole", "acrobot", "reacher"])
def test_vector_field_matches_mujoco_accelerations(name):
    s = get_system(name)
    params = {k: v * 0.8 for k, v in s.parameters.items()}
    m = s.model(params)
    m.dof_armature[:] = 0.01  # armature is read from the model too
    d = mujoco.MjData(m)
    rng = np.random.default_rng(0)
    eqs = EQUATIONS[name](m)
    for _ in range(5):
        x = rng.uniform(-2, 2, size=s.n_x)
        u = rng.uniform(s.action_bounds[:, 0], s.action_bounds[:, 1])  # MuJoCo clamps outside
        d.qpos[:], d.qvel[:], d.ctrl[:] = x[: m.nq], x[m.nq :], u
        mujoco.mj_forward(m, d)
        np.testing.assert_allclose(eqs(x, u), np.r_[d.qvel, d.qacc], rtol=1e-9, atol=1e-9)


def test_pendulum_coefficients_follow_the_model():
    s = get_system("pendulum")
    eq = s.true_equations()
    # uniform rod: J = m l²/3, c = l/2 → a = -3 g / (2 l), b = -3 damping / (m l²), gain 3 gear/(m l²)
    assert eq.coefficient("omega", "sin(theta)") == pytest.approx(-1.5 * 9.81)
    assert eq.coefficient("omega", "omega") == pytest.approx(-0.15)
    assert eq.coefficient("omega", "torque") == pytest.approx(3.0)
    assert eq.coefficient("theta", "omega") == 1.0
    assert eq.coefficient("omega", "cos(theta)") == 0.0
    heavy = s.with_parameters(length=2.0).true_equations()
    assert heavy.coefficient("omega", "sin(theta)") == pytest.approx(-0.75 * 9.81)
    assert "d(omega)/dt = -14.715*sin(theta) - 0.15*omega + 3*torque" in eq.equations
    x, u = np.zeros((4, 3, 2)), np.ones((4, 3, 1))
    assert eq.f(x, u).shape == (4, 3, 2)


def test_cartpole_rational_form_reproduces_f():
    eq = get_system("cartpole").true_equations()
    rng = np.random.default_rng(0)
    x = rng.uniform(-2, 2, size=(50, 4))
    u = rng.uniform(-10, 10, size=(50, 1))
    names = [
        "v",
        "omega",
        "sin(theta)",
        "omega^2*sin(theta)",
        "sin(theta)*cos(theta)",
        "omega*cos(theta)",
        "v*cos(theta)",
        "omega^2*sin(theta)*cos(theta)",
        "force",
        "cos(theta)*force",
    ]
    th, v, om, f = x[:, 1], x[:, 2], x[:, 3], u[:, 0]
    s, c = np.sin(th), np.cos(th)
    feats = np.stack([v, om, s, om**2 * s, s * c, om * c, v * c, om**2 * s * c, f, c * f], axis=1)
    coef = eq.coefficient_matrix(names)
    den = 1.0 + eq.denominator["v"]["cos(theta)^2"] * c**2
    np.testing.assert_allclose(
        (feats @ coef.T)[:, 2:] / den[:, None], eq.f(x, u)[:, 2:], rtol=1e-10
    )
    np.testing.assert_allclose((feats @ coef.T)[:, :2], x[:, 2:])


def test_feature_keys_and_coefficient_matrix_errors():
    assert feature_key("omega^2*sin(theta)") == feature_key("sin(theta) omega omega")
    assert feature_key("cos(theta)*force") == feature_key("force cos(theta)")
    assert feature_key("1") == ()
    eq = get_system("pendulum").true_equations()
    m = eq.coefficient_matrix(["1", "omega", "torque", "sin(theta)"])
    np.testing.assert_allclose(m[1], [0, -0.15, 3.0, -14.715])
    with pytest.raises(ConfigError, match=r"missing \['sin\(theta\) \(in d\(omega\)/dt\)'\]"):
        eq.coefficient_matrix(["omega", "torque"])
    assert eq.coefficient_matrix(["omega", "torque"], strict=False).shape == (2, 2)
    with pytest.raises(UnknownNameError, match=r"No known coefficients for state 'phi'"):
        eq.coefficient("phi", "omega")
