"""Closure: a residual's values written as new terms of a declared prior."""

from __future__ import annotations

import numpy as np
import pytest

from hybridwm.errors import ConfigError, ShapeError
from hybridwm.physics import PhysicsModel, declare
from hybridwm.physics.closure import close_prior, fit_closure


def _prior():
    return declare(
        ["d(theta) = omega", "d(omega) = -w0**2*sin(theta) + k*torque"],
        parameters={"w0": 3.8, "k": 3.0},
        action_names=["torque"],
    )


def _states(n_traj: int = 10, n: int = 120, seed: int = 0):
    """(x (N, 2), u (N, 1), groups (N,)) spread like pendulum swings."""
    rng = np.random.default_rng(seed)
    theta = rng.uniform(-2.5, 2.5, (n_traj * n,))
    omega = rng.uniform(-6, 6, (n_traj * n,))
    torque = rng.uniform(-2, 2, (n_traj * n, 1))
    return np.stack([theta, omega], 1), torque, np.repeat(np.arange(n_traj), n)


def test_a_missing_damping_is_found_with_its_coefficient() -> None:
    x, u, groups = _states()
    residual = np.zeros_like(x)
    residual[:, 1] = -0.15 * x[:, 1] + 1e-4 * np.random.default_rng(1).standard_normal(len(x))
    closure = fit_closure(_prior(), x, u, residual, groups, angles=("theta",))
    terms = closure.terms()
    assert list(terms) == ["omega"]
    assert [name for name, _ in terms["omega"]] == ["omega"]
    assert terms["omega"][0][1] == pytest.approx(-0.15, rel=1e-3)
    assert closure.accepted.tolist() == [False, True]
    assert np.isnan(closure.r2[0])  # nothing to explain in d(theta)/dt
    assert closure.r2[1] > 0.99


def test_terms_the_prior_already_has_are_left_to_its_parameters() -> None:
    x, u, groups = _states()
    residual = np.zeros_like(x)
    residual[:, 1] = -0.15 * x[:, 1] + 0.2 * u[:, 0] - 0.5 * np.sin(x[:, 0])
    closure = fit_closure(_prior(), x, u, residual, groups, angles=("theta",))
    # what the parameters have not yet fitted (torque, sin(theta)) is neither closed nor
    # approximated by other terms: the regression runs on what the prior's terms leave
    assert closure.terms() == {"omega": [("omega", pytest.approx(-0.15, rel=1e-9))]}
    assert closure.r2[1] > 1 - 1e-9


def _cartpole_prior(**values: float) -> PhysicsModel:
    """A frictionless cart-pole written in closed form: the inverse mass matrix is the
    denominator ``D = mc + mp - 3/4*mp*cos(theta)**2``."""
    d = "(mc + mp - 3/4*mp*cos(theta)**2)"
    return declare(
        [
            "d(x) = v",
            "d(theta) = omega",
            f"d(v) = (force + mp*l/2*sin(theta)*omega**2 + 3/4*mp*g*sin(theta)*cos(theta)) / {d}",
            f"d(omega) = -3/(2*l)*((mc + mp)*g*sin(theta) + cos(theta)*(force"
            f" + mp*l/2*sin(theta)*omega**2)) / {d}",
        ],
        parameters={"mc": 1.0, "mp": 0.1, "l": 1.0, **values},
        action_names=["force"],
        fixed={"g": 9.81},
    )


def test_a_friction_through_the_mass_matrix_is_written_over_its_denominator() -> None:
    """Joint friction ``-bx*v`` and ``-bth*omega`` enters the accelerations through the inverse
    mass matrix; over the prior's own denominator it is four exact terms."""
    prior = _cartpole_prior(mp=0.4)
    rng = np.random.default_rng(3)
    n = 1500
    x = np.stack(
        [
            rng.uniform(-1, 1, n),
            rng.uniform(-np.pi, np.pi, n),
            rng.uniform(-2, 2, n),
            rng.uniform(-6, 6, n),
        ],
        1,
    )
    u = rng.uniform(-5, 5, (n, 1))
    mc, mp, length, bx, bth = 1.0, 0.4, 1.0, 0.3, 0.05
    theta, v, omega = x[:, 1], x[:, 2], x[:, 3]
    den = mc + mp - 0.75 * mp * np.cos(theta) ** 2
    residual = np.zeros_like(x)
    residual[:, 2] = (-bx * v + 1.5 * bth / length * np.cos(theta) * omega) / den
    residual[:, 3] = (
        1.5 * bx / length * np.cos(theta) * v - 3 * bth * (mc + mp) / (mp * length**2) * omega
    ) / den
    closure = fit_closure(prior, x, u, residual, np.arange(n) // 100, angles=("theta",))
    terms = closure.terms()
    assert sorted(terms) == ["omega", "v"]
    assert all(len(t) == 2 and all("/(" in name for name, _ in t) for t in terms.values())
    assert closure.r2[2:].min() > 1 - 1e-9
    closed = close_prior(prior, closure)
    np.testing.assert_allclose(closed.predict(x, u), prior.predict(x, u) + residual, atol=1e-9)
    again = type(closed).from_json(closed.to_json())  # D's parameters survive the document
    np.testing.assert_allclose(
        again.with_parameters(mp=0.5).predict(x, u), closed.with_parameters(mp=0.5).predict(x, u)
    )
    # the prior's own terms over D (the force, the gravity) are not offered again
    names = {name for t in terms.values() for name, _ in t}
    assert not any(name.startswith(("force", "sin(theta)")) for name in names)


def test_a_residual_no_sparse_law_explains_is_not_closed() -> None:
    x, u, groups = _states()
    residual = np.zeros_like(x)
    residual[:, 1] = np.random.default_rng(2).standard_normal(len(x))
    closure = fit_closure(_prior(), x, u, residual, groups, angles=("theta",))
    assert not closure.found
    assert closure.terms() == {}
    assert closure.r2[1] < 0.9


def test_the_closed_prior_adds_the_terms_as_parameters() -> None:
    prior = _prior()
    x, u, groups = _states()
    residual = np.zeros_like(x)
    residual[:, 1] = -0.15 * x[:, 1] + 0.3 * x[:, 1] * np.cos(x[:, 0])
    closure = fit_closure(prior, x, u, residual, groups, angles=("theta",))
    closed = close_prior(prior, closure)
    added = [p for p in closed.parameter_names if p.startswith("closure_")]
    assert added == ["closure_omega_1", "closure_omega_2"]
    assert closed.parameter_values["w0"] == prior.parameter_values["w0"]
    np.testing.assert_allclose(closed.predict(x, u), prior.predict(x, u) + residual, atol=1e-9)
    assert closed.info["closure"]["accepted"] == ["omega"]
    assert closed.info["equations"][1].endswith("closure_omega_2*omega*cos(theta)")
    assert "closure_omega_1" in closed.equations(symbolic=True)[1]
    # it survives the JSON document
    again = type(closed).from_json(closed.to_json())
    np.testing.assert_allclose(again.predict(x, u), closed.predict(x, u))


def test_fit_closure_refuses_bad_input() -> None:
    prior = _prior()
    x, u, groups = _states(n_traj=3, n=20)
    r = np.zeros_like(x)
    with pytest.raises(ShapeError, match=r"`residual` of fit_closure must have shape \(N, 2\)"):
        fit_closure(prior, x, u, r[:, :1], groups)
    with pytest.raises(ShapeError, match="same N rows"):
        fit_closure(prior, x, u[:-1], r, groups)
    bad = r.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ShapeError, match="`residual` of fit_closure holds NaN"):
        fit_closure(prior, x, u, bad, groups)
    with pytest.raises(ConfigError, match=r"`min_r2` of fit_closure must lie in \(0, 1\)"):
        fit_closure(prior, x, u, r, groups, min_r2=1.0)
    with pytest.raises(ConfigError, match="`degree` of fit_closure must be an integer >= 1"):
        fit_closure(prior, x, u, r, groups, degree=0)
    with pytest.raises(ConfigError, match="`folds` of fit_closure must be an integer >= 2"):
        fit_closure(prior, x, u, r, groups, folds=1)


def test_closure_needs_a_declared_prior_with_the_same_names() -> None:
    x, u, groups = _states(n_traj=3, n=20)
    discovered = PhysicsModel(
        ["theta", "omega"],
        ["torque"],
        ["omega", "sin(theta)", "torque"],
        [[1.0, 0.0, 0.0], [0.0, -9.8, 3.0]],
    )
    with pytest.raises(ConfigError, match="completes a declared prior"):
        fit_closure(discovered, x, u, np.zeros_like(x), groups)
    with pytest.raises(ConfigError, match="close_prior needs a declared prior"):
        close_prior(discovered, fit_closure(_prior(), x, u, np.zeros_like(x), groups))
    other = declare(
        ["d(a) = b", "d(b) = -w*a + k*torque"], {"w": 1.0, "k": 1.0}, action_names=["torque"]
    )
    closure = fit_closure(_prior(), x, u, np.zeros_like(x), groups)
    with pytest.raises(ConfigError, match="fit the closure against this prior"):
        close_prior(other, closure)


def test_a_residual_too_small_to_matter_is_not_closed() -> None:
    """A tiny smooth residual fits a library well (high R²) but is below MIN_SHARE of the
    row's derivative: it is left alone."""
    from hybridwm.physics.closure import MIN_SHARE

    x, u, groups = _states()
    residual = np.zeros_like(x)
    residual[:, 1] = -1e-3 * x[:, 1]
    closure = fit_closure(_prior(), x, u, residual, groups, angles=("theta",))
    assert closure.r2[1] > 0.99
    assert closure.share[1] < MIN_SHARE
    assert not closure.found
