"""Kinematic rows pinned in discovery (``DiscoverConfig.kinematics``): ``dq/dt = v`` exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hybridwm.data import TrajectorySet
from hybridwm.errors import ConfigError, UnknownNameError
from hybridwm.physics import DiscoverConfig, PhysicsModel, discover, refine_coefficients
from hybridwm.physics.kinematics import parse_kinematics, pin_rows

from .conftest import add_noise


def _row(model: PhysicsModel, state: str) -> dict[str, float]:
    c = model.coefficients.loc[state]
    return {f: float(v) for f, v in c.items() if v != 0}


@pytest.fixture(scope="module")
def noisy_cartpole() -> TrajectorySet:
    from hybridwm.systems import simulate

    ts = simulate(system="cartpole", scenario="train", n_trajectories=8, duration=2.0, seed=0)
    return add_noise(ts, 0.02)


def _cartpole_config(**changes) -> DiscoverConfig:
    from hybridwm.evaluation import load_preset

    settings = dict(load_preset("full").discover["cartpole"])
    settings["differentiation"] = "smoothed_finite_difference"
    return DiscoverConfig.from_dict(settings).replace(**changes)


def test_pinned_rows_are_exact_and_the_others_are_still_discovered(noisy_cartpole) -> None:
    free = discover(noisy_cartpole, config=_cartpole_config())
    pinned = discover(noisy_cartpole, config=_cartpole_config(kinematics=("x=v", "theta=omega")))
    assert _row(pinned, "x") == {"v": 1.0}
    assert _row(pinned, "theta") == {"omega": 1.0}
    assert pinned.info["kinematics"] == {"x": "v", "theta": "omega"}
    # the pins are not regressed, so they are not in the selection record; the rational rows
    # are still found (by the same rule as without pins) and fitted alike
    assert sorted(pinned.info["selection"]["chosen"]) == ["omega", "v"]
    assert pinned.info["rational"]["rational_states"] == ["v", "omega"]
    for state in ("v", "omega"):
        assert _row(pinned, state) == pytest.approx(_row(free, state), rel=1e-9)
    # without pins, 2 % noise puts more than the velocity into the kinematic rows
    assert len(_row(free, "x")) + len(_row(free, "theta")) > 2
    assert "kinematics" not in free.info


def test_pins_survive_saving_and_the_torch_term(noisy_cartpole, tmp_path) -> None:
    model = discover(noisy_cartpole, config=_cartpole_config(kinematics=("x=v", "theta=omega")))
    again = PhysicsModel.load(model.save(tmp_path / "p.json"))
    assert again.info["kinematics"] == {"x": "v", "theta": "omega"}
    field = again.vector_field(trainable=True)
    x = torch.tensor(noisy_cartpole[0].x)
    u = torch.tensor(noisy_cartpole[0].u)
    field(x, u).pow(2).sum().backward()
    grad = field.coef.grad
    assert grad[:2].abs().max() == 0.0  # x and theta rows get no gradient
    assert grad[2:].abs().max() > 0.0
    with torch.no_grad():  # whatever happens to the trained tensor, the pins hold
        field.coef.add_(0.5)
    held = field.coefficient_matrix()[:2].detach().numpy()
    np.testing.assert_array_equal(held, again.coef_array[:2])
    dx = field(x, u).detach().numpy()
    np.testing.assert_array_equal(dx[:, :2], noisy_cartpole[0].x[:, 2:])


def test_a_velocity_missing_from_the_library_is_added_and_ensembles_record_the_pin(
    pendulum_data,
) -> None:
    cfg = DiscoverConfig(
        library="none",
        features=("sin(theta)", "omega", "torque"),
        kinematics=("theta=omega",),
        ensemble=3,
        diagnostics=False,
    )
    model = discover(pendulum_data, config=cfg)
    assert _row(model, "theta") == {"omega": 1.0}
    assert model.coef_mean.loc["theta", "omega"] == 1.0
    assert model.coef_std.loc["theta"].abs().max() == 0.0
    assert model.inclusion_probability.loc["theta", "omega"] == 1.0
    # a library without the velocity: the pin adds it as a feature of its own
    exprs, coef, _ = pin_rows(["sin(theta)"], np.array([[0.3], [-9.0]]), None,
                              {"theta": "omega"}, ("theta", "omega"), ("torque",))  # fmt: skip
    assert [str(e) for e in exprs] == ["sin(theta)", "omega"]
    np.testing.assert_array_equal(coef, [[0.0, 1.0], [-9.0, 0.0]])


def test_refinement_holds_the_pinned_rows(pendulum_data) -> None:
    noisy = add_noise(pendulum_data, 0.01)
    cfg = DiscoverConfig(
        library="trig-poly",
        angles=("theta",),
        kinematics=("theta=omega",),
        refine="terms",
        diagnostics=False,
    )
    model = discover(noisy, config=cfg)
    assert _row(model, "theta") == {"omega": 1.0}
    errors = model.info["refinement"]["standard_errors"]
    assert errors["theta"] == {}  # held, not refined
    assert errors["omega"]
    assert all(step.get("state") != "theta" for step in model.info["refinement"]["steps"])
    only_pins = PhysicsModel(
        ["theta", "omega"], ["torque"], ["omega"], [[1.0], [0.0]],
        info={"kinematics": {"theta": "omega"}},
    )  # fmt: skip
    with pytest.raises(ConfigError, match=r"no non-zero coefficient to refine \(rows pinned"):
        refine_coefficients(only_pins, noisy)


@pytest.mark.parametrize(
    ("entries", "match"),
    [
        (("theta omega",), r"entries must read 'position=velocity', e.g. 'theta=omega'"),
        (("theta=omega=v",), r"must read 'position=velocity'.*Got 'theta=omega=v'"),
        (("theta=theta",), r"makes 'theta' its own derivative"),
        (("theta=omega", "theta=v"), r"pins 'theta' twice \(theta=omega and 'theta=v'\)"),
    ],
)
def test_bad_kinematics_are_refused(entries, match) -> None:
    with pytest.raises(ConfigError, match=match):
        DiscoverConfig(kinematics=entries)


def test_a_pin_cannot_also_be_rational() -> None:
    with pytest.raises(ConfigError, match=r"\['v'\] are both `rational`.*and pinned"):
        DiscoverConfig(denominator="cos(theta)", rational=("v",), kinematics=("v=omega",))


def test_unknown_states_in_kinematics_are_named(pendulum_data) -> None:
    with pytest.raises(UnknownNameError, match=r"names \['v', 'x'\], which are not states"):
        parse_kinematics(("x=v",), ("theta", "omega"))
    with pytest.raises(UnknownNameError, match=r"`kinematics` names \['dtheta'\]"):
        discover(pendulum_data, config=DiscoverConfig(kinematics=("theta=dtheta",)))
