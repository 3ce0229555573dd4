"""Rational discovery (a learned denominator) on MuJoCo cart-pole data and on synthetic data."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
import torch

from hybridwm.data import TrajectorySet
from hybridwm.errors import ConfigError, DiscoveryError, UnknownNameError
from hybridwm.physics import DiscoverConfig, PhysicsModel, discover
from hybridwm.physics.rational import (
    MIN_DENOMINATOR,
    denominator_expression,
    denominator_values,
    estimate_denominator,
    kinematic_rows,
    z_range,
)


def cartpole_config(**changes) -> DiscoverConfig:
    """The cart-pole settings of the benchmark presets (mechanics terms over a learned
    denominator in cos(theta)), with some fields changed."""
    from hybridwm.evaluation import load_preset

    return DiscoverConfig.from_dict(load_preset("full").discover["cartpole"]).replace(**changes)


@pytest.fixture(scope="module")
def cartpole_train() -> TrajectorySet:
    from hybridwm.systems import simulate

    return simulate(system="cartpole", scenario="train", n_trajectories=8, duration=2.0, seed=0)


@pytest.fixture(scope="module")
def cartpole_model(cartpole_train: TrajectorySet) -> PhysicsModel:
    return discover(cartpole_train, config=cartpole_config())


def test_cartpole_denominator_and_equations_match_the_closed_form(
    cartpole_model: PhysicsModel,
) -> None:
    from hybridwm.systems import get_system

    truth = get_system("cartpole").true_equations()
    info = cartpole_model.info["rational"]
    assert info["rational_states"] == ["v", "omega"]  # found: x and theta are kinematic
    d1, d2 = info["coefficients"]
    k = truth.constants["k"]  # D = 1 - k cos^2(theta)
    assert abs(d1) < 5e-3 and abs(d2 + k) < 3e-3
    # the right-hand side agrees with the exact one far outside the training box (upright pole)
    rng = np.random.default_rng(1)
    x = np.column_stack(
        [
            rng.uniform(-1, 1, 200),
            rng.uniform(-np.pi, np.pi, 200),
            rng.uniform(-2, 2, 200),
            rng.uniform(-4, 4, 200),
        ]
    )
    u = rng.uniform(-1, 1, (200, 1))
    err = cartpole_model.predict(x, u) - truth.f(x, u)
    scale = np.abs(truth.f(x, u)).max(axis=0)
    assert np.max(np.abs(err) / scale) < 0.02


def test_cartpole_rational_physics_extrapolates_where_the_trig_library_does_not(
    cartpole_train: TrajectorySet, cartpole_model: PhysicsModel
) -> None:
    from hybridwm.systems import simulate

    upright = simulate(
        system="cartpole", scenario="ood-state", n_trajectories=4, duration=2.0, seed=3
    )
    t, x, u = upright.stack()
    trig = discover(
        cartpole_train,
        config=DiscoverConfig(
            library="trig",
            angles=("theta",),
            action_products=("cos(theta)",),
            features=("omega^2*sin(theta)", "sin(theta)*cos(theta)"),
        ),
    )
    scale = x.reshape(-1, 4).std(axis=0)

    def nrmse(model: PhysicsModel) -> float:
        pred = model.simulate(x[:, 0], u, t)
        return float(np.mean(np.sqrt(np.mean((pred - x) ** 2, axis=(0, 1))) / scale))

    rational, approx = nrmse(cartpole_model), nrmse(trig)
    assert rational < 0.01
    assert rational < 0.1 * approx


def test_rational_model_round_trips_and_matches_its_torch_field(
    cartpole_model: PhysicsModel, cartpole_train: TrajectorySet, tmp_path
) -> None:
    path = cartpole_model.save(tmp_path / "p.json")
    again = PhysicsModel.load(path)
    x, u = cartpole_train[0].x, cartpole_train[0].u
    assert np.array_equal(again.predict(x, u), cartpole_model.predict(x, u))
    field = cartpole_model.vector_field()
    with torch.no_grad():
        dx = field(torch.tensor(x), torch.tensor(u)).numpy()
    np.testing.assert_allclose(dx, cartpole_model.predict(x, u), rtol=1e-12, atol=1e-12)


def test_named_rational_rows_and_ensemble(cartpole_train: TrajectorySet) -> None:
    model = discover(cartpole_train, config=cartpole_config(rational=("v", "omega"), ensemble=3))
    assert model.info["rational"]["rational_states"] == ["v", "omega"]
    assert model.coef_std is not None
    assert model.inclusion_probability.shape == model.coef_mean.shape
    # the kinematic rows use the plain features, the rational rows only the divided ones
    coef = model.coefficients
    divided = [c for c in coef.columns if "/" in c]
    assert (coef.loc["x", divided] == 0).all()
    assert (coef.loc["v", [c for c in coef.columns if c not in divided]] == 0).all()


# ---------------------------------------------------------------------------- the helpers
def test_estimate_denominator_recovers_an_exact_rational_function() -> None:
    rng = np.random.default_rng(0)
    z = rng.uniform(-1, 1, 2000)
    a = rng.normal(size=(2000, 3))
    den = 1 - 0.3 * z + 0.2 * z**2
    dx = np.column_stack([(2 * a[:, 0] - a[:, 1]) / den, (0.5 * a[:, 2]) / den])
    d = estimate_denominator(a, dx, z, 2, bounds=(-1, 1))
    np.testing.assert_allclose(d, [-0.3, 0.2], atol=1e-6)


def test_estimate_denominator_with_a_big_library_refines_on_a_row_subset() -> None:
    rng = np.random.default_rng(1)
    n, k = 12000, 80  # 12000 × 80² > REFINE_BUDGET: the refinement uses an evenly spaced subset
    z = rng.uniform(-1, 1, n)
    a = rng.normal(size=(n, k))
    dx = (a[:, :3] @ np.array([1.0, -2.0, 0.5]))[:, None] / (1 + 0.4 * z - 0.3 * z**2)[:, None]
    d = estimate_denominator(a, dx, z, 2, bounds=(-1, 1))
    np.testing.assert_allclose(d, [0.4, -0.3], atol=1e-6)


def test_estimate_denominator_keeps_poles_out_of_the_checked_range() -> None:
    # the best fit, D = 1 - 1.5 z, is positive on the data (z in [0, 0.5]) but crosses zero at
    # z = 2/3: with z in [-1, 1] required (a cosine), a pole-free D is returned instead
    rng = np.random.default_rng(2)
    z = rng.uniform(0, 0.5, 3000)
    a = rng.normal(size=(3000, 2))
    dx = (a[:, :1] - 0.5 * a[:, 1:]) / (1 - 1.5 * z)[:, None]
    d = estimate_denominator(a, dx, z, 1, bounds=(-1, 1))
    grid = np.linspace(-1, 1, 201)
    assert denominator_values(grid, d).min() >= MIN_DENOMINATOR
    # on the data's own range the same fit finds the exact denominator
    np.testing.assert_allclose(
        estimate_denominator(a, dx, z, 1, bounds=(0, 0.5)), [-1.5], atol=1e-6
    )


def test_z_range_widens_trig_expressions_to_their_full_range() -> None:
    th = sp.Symbol("theta", real=True)
    assert z_range(sp.cos(th), np.array([0.5, 0.9])) == (-1.0, 1.0)
    assert z_range(th, np.array([0.5, 0.9])) == (0.5, 0.9)


def test_denominator_expression_rounds_and_skips_zeros() -> None:
    th = sp.Symbol("theta", real=True)
    e = denominator_expression(sp.cos(th), [0.0, -0.068181818181])
    assert str(e) == "1 - 0.0681818*cos(theta)**2"
    assert denominator_values(np.array([1.0]), np.array([0.0, -0.0681818]))[0] == pytest.approx(
        1 - 0.0681818
    )


def test_kinematic_rows() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 2))
    dx = np.column_stack([x[:, 1], np.sin(3 * x[:, 0]) * x[:, 1] + 0.1 * rng.normal(size=500)])
    assert kinematic_rows(dx, x).tolist() == [True, False]


# ---------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"denominator_degree": 0}, r"`denominator_degree` must be >= 1"),
        ({"denominator_degree": 1.5}, r"`denominator_degree` must be an integer"),
        (
            {"denominator": None, "rational": ("v",)},
            r"`rational` \(\['v'\]\) needs a `denominator`",
        ),
        ({"denominator": "  "}, r"`denominator` must be an expression over the states"),
    ],
)
def test_config_errors(changes: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        cartpole_config(**changes)


def test_denominator_over_unknown_names_or_constant(cartpole_train: TrajectorySet) -> None:
    with pytest.raises(UnknownNameError, match="phi"):
        discover(cartpole_train, config=cartpole_config(denominator="cos(phi)"))
    with pytest.raises(UnknownNameError, match="force"):  # an action is not a state
        discover(cartpole_train, config=cartpole_config(denominator="force"))
    with pytest.raises(ConfigError, match="is a constant"):
        discover(cartpole_train, config=cartpole_config(denominator="2"))
    with pytest.raises(UnknownNameError, match=r"`rational` names \['speed'\]"):
        discover(cartpole_train, config=cartpole_config(rational=("speed",)))


def test_no_rational_row_is_a_clear_error() -> None:
    # a harmonic oscillator: each derivative is (minus) the other state
    t = np.linspace(0, 6, 601)
    phase = np.array([0.0, 1.0, 2.0])[:, None]
    x = np.stack([np.sin(t + phase), np.cos(t + phase)], axis=-1)
    data = TrajectorySet.from_arrays(t, x, state_names=("p", "q"))
    with pytest.raises(DiscoveryError, match=r"Name them with `rational=\[...\]`"):
        discover(data, config=DiscoverConfig(library="poly", denominator="p"))
