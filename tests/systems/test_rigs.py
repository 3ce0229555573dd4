"""Incomplete-physics rigs: the base system's names and scenarios, plus friction, motor lag,
force saturation and air drag, each present, parameterised and switchable."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from hybridwm.errors import ConfigError, UnknownNameError
from hybridwm.metrics import nrmse_trajectories
from hybridwm.systems import (
    Parameter,
    Scenario,
    get_scenario,
    get_system,
    list_scenarios,
    list_systems,
    make_rig,
    simulate,
)

RIGS = {
    "pendulum-rig": ("friction",),
    "cartpole-rig": ("cart_friction", "pole_friction"),
    "acrobot-rig": ("friction1", "friction2"),
    "reacher-rig": ("friction1", "friction2"),
}
EFFECTS = ("motor_tau", "force_limit", "air_density")


def _off(rig):
    """Parameter values switching every effect of ``rig`` off (the limit at the action bound)."""
    return {
        **dict.fromkeys(RIGS[rig.name], 0.0),
        "motor_tau": 0.0,
        "air_density": 0.0,
        "force_limit": float(np.abs(rig.action_bounds).max()),
    }


def _data(system, n=4, duration=1.0, params=None):
    return simulate(
        system=system, scenario="id", n_trajectories=n, duration=duration, seed=0,
        params=params or {}, nthread=1,
    )  # fmt: skip


@pytest.mark.parametrize("name", sorted(RIGS))
def test_a_rig_has_its_base_systems_names_parameters_energy_and_scenarios(name):
    rig = get_system(name)
    base = get_system(rig.base)
    assert name in list_systems() and rig.base == name.removesuffix("-rig")
    assert rig.state_names == base.state_names and rig.action_names == base.action_names
    assert rig.angle_names == base.angle_names
    np.testing.assert_array_equal(rig.action_bounds, base.action_bounds)
    assert rig.parameters == {**base.parameters, **{k: rig.parameters[k] for k in _off(rig)}}
    assert set(rig.parameters) == set(base.parameters) | set(RIGS[name]) | set(EFFECTS)
    x = np.random.default_rng(0).uniform(-1, 1, size=(5, rig.n_x))
    np.testing.assert_array_equal(rig.energy(x), base.energy(x))
    assert list_scenarios(name) == list_scenarios(base.name)
    sc = get_scenario(name, "ood-params")
    assert sc.system == name and sc.check(rig) is None
    assert sc.system_parameters(rig) == {
        **sc.system_parameters(base),
        **{k: rig.defaults[k] for k in _off(rig)},
    }
    ideal = rf"get_system\('{base.name}'\)\.true_equations\(\)"
    with pytest.raises(
        ConfigError, match=rf"No closed-form equations are known for {name}\. .*" + ideal
    ):
        rig.true_equations()


@pytest.mark.parametrize("name", sorted(RIGS))
def test_a_rig_with_its_effects_off_is_its_base_system_and_differs_with_them(name):
    rig = get_system(name)
    ideal = _data(rig.base)
    for a, b in zip(ideal, _data(name, params=_off(rig)), strict=True):
        np.testing.assert_allclose(b.x, a.x, rtol=0, atol=1e-12)
    rigged = _data(name)
    assert rigged[0].meta["system"] == name and rigged[0].meta["parameters"] == rig.parameters
    assert nrmse_trajectories(ideal, rigged) > 0.02  # more than 2% sensor noise, in 1 s


def test_coulomb_friction_stops_the_pendulum_in_a_dead_zone():
    rig, base = get_system("pendulum-rig"), get_system("pendulum")
    mgc = 9.81 * 0.5  # rod of 1 kg, centre of mass at 0.5 m
    dead_zone = np.arcsin(rig.parameters["friction"] / mgc)
    x0, u = np.array([[0.3, 0.0], [0.5 * dead_zone, 0.0]]), np.zeros((2, 800, 1))
    swings, stops = base.simulate(x0, u, 0.01), rig.simulate(x0, u, 0.01)
    # released outside the dead zone: stops within 5 s, inside it; the ideal one still swings
    assert np.abs(stops[0].x[500:, 1]).max() < 1e-3 and abs(stops[0].x[-1, 0]) < dead_zone
    assert np.abs(swings[0].x[700:, 1]).max() > 0.1
    # released inside it: (almost) no motion; the ideal one swings through the bottom
    assert np.abs(stops[1].x[:, 0] - x0[1, 0]).max() < 0.1 * dead_zone
    assert swings[1].x[:, 0].min() < -0.5 * x0[1, 0]
    no_friction = rig.with_parameters(friction=0.0).simulate(x0, u, 0.01)
    assert np.abs(no_friction[0].x[700:, 1]).max() > 0.1


def _step_response(system, command, steps):
    """``data.actuator_force`` (steps, n_u) after a step of the command from rest."""
    model = system.model()
    data = mujoco.MjData(model)
    data.ctrl[:] = command
    out = []
    for _ in range(steps):
        mujoco.mj_step(model, data)
        out.append(data.actuator_force.copy())
    return np.array(out), data


def test_the_motor_force_follows_a_step_command_with_a_first_order_lag():
    rig = get_system("pendulum-rig")
    tau, dt = rig.parameters["motor_tau"], rig.timestep
    force, _ = _step_response(rig, 0.5, 100)
    t = dt * np.arange(1, 101)
    np.testing.assert_allclose(force[:, 0], 0.5 * (1 - np.exp(-t / tau)), rtol=0, atol=1e-4)
    assert force[round(tau / dt) - 1, 0] == pytest.approx(0.5 * (1 - np.exp(-1)), abs=1e-4)
    slower, _ = _step_response(rig.with_parameters(motor_tau=2 * tau), 0.5, 100)
    assert slower[round(tau / dt) - 1, 0] < 0.8 * force[round(tau / dt) - 1, 0]
    instant, _ = _step_response(rig.with_parameters(motor_tau=0.0), 0.5, 1)
    assert instant[0, 0] == 0.5 and rig.with_parameters(motor_tau=0.0).model().na == 0


@pytest.mark.parametrize(("name", "limit"), [("pendulum-rig", 0.8), ("reacher-rig", 0.3)])
def test_the_motor_force_saturates_at_the_force_limit(name, limit):
    rig = get_system(name).with_parameters(force_limit=limit)
    top = rig.action_bounds[:, 1]
    assert (top > limit).all()  # the command range asks for more than the motor gives
    force, data = _step_response(rig, top, 500)
    np.testing.assert_allclose(data.act, top)  # the lagged command reached the full command
    np.testing.assert_array_equal(force[-1], limit)
    assert np.abs(force).max() <= limit
    force, _ = _step_response(rig, -0.5 * limit, 500)
    np.testing.assert_allclose(force[-1], -0.5 * limit, rtol=1e-6)  # below the limit: as asked


def _fluid_force(system, qvel):
    model = system.model()
    data = mujoco.MjData(model)
    data.qvel[:] = qvel
    mujoco.mj_forward(model, data)
    return data.qfrc_fluid.copy()


@pytest.mark.parametrize("name", sorted(RIGS))
def test_air_drag_opposes_the_motion_and_grows_with_the_square_of_the_speed(name):
    rig = get_system(name)
    qvel = np.full(rig.model().nv, 1.5)
    drag = _fluid_force(rig, qvel)
    assert (drag * qvel < 0).any() and (drag @ qvel) < 0  # it takes power out
    np.testing.assert_allclose(_fluid_force(rig, 2 * qvel), 4 * drag, rtol=1e-9)
    np.testing.assert_allclose(_fluid_force(rig, -qvel), -drag, rtol=1e-9)
    np.testing.assert_array_equal(_fluid_force(rig.with_parameters(air_density=0.0), qvel), 0.0)
    heavy = _fluid_force(rig.with_parameters(air_density=2.4), qvel)
    np.testing.assert_allclose(heavy, 2 * drag, rtol=1e-9)
    model = rig.model()
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    np.testing.assert_array_equal(data.qfrc_fluid, 0.0)  # at rest: no force (no buoyancy)


def test_rig_parameters_override_the_model_and_scenarios_can_scale_them():
    cart = get_system("cartpole-rig").with_parameters(
        cart_friction=0.7, pole_friction=0.02, motor_tau=0.05, force_limit=3.0, air_density=1.0
    )
    model = cart.model()
    assert model.dof_frictionloss[model.joint("slider").dofadr[0]] == 0.7
    assert model.dof_frictionloss[model.joint("hinge").dofadr[0]] == 0.02
    assert model.actuator_dyntype[0] == mujoco.mjtDyn.mjDYN_FILTER
    assert model.actuator_dynprm[0, 0] == 0.05 and list(model.actuator_forcerange[0]) == [-3, 3]
    assert model.opt.density == 1.0 and (model.geom_fluid[:, 0] == 1).all()
    heavy = cart.with_parameters(pole_mass=0.3)
    assert heavy.parameters["cart_friction"] == 0.7 and heavy.model().body("pole").mass == 0.3
    sc = Scenario(name="sticky", system="cartpole-rig", parameter_scales={"cart_friction": 2.0})
    assert sc.system_parameters(get_system("cartpole-rig"))["cart_friction"] == 0.6
    per_call = get_system("pendulum-rig").simulate(
        np.zeros((1, 2)), np.full((1, 5, 1), 0.5), 0.01, parameters={"force_limit": 0.1}
    )
    assert per_call[0].meta["parameters"]["force_limit"] == 0.1


@pytest.mark.parametrize(
    ("overrides", "pattern"),
    [
        ({"motor_tau": -0.01}, r"`motor_tau` of pendulum-rig \(time constant.*>= 0\. Got -0\.01"),
        ({"force_limit": 0.0}, r"`force_limit` of pendulum-rig \(largest force.*> 0\. Got 0\.0"),
        ({"friction": float("nan")}, r"`friction` of pendulum-rig \(Coulomb friction.*Got nan"),
        ({"air_density": -1.2}, r"`air_density` of pendulum-rig \(density.*>= 0\. Got -1\.2"),
    ],
)
def test_bad_rig_parameters_name_the_parameter(overrides, pattern):
    with pytest.raises(ConfigError, match=pattern):
        get_system("pendulum-rig").with_parameters(**overrides)


def test_unknown_rig_parameters_list_the_valid_names():
    with pytest.raises(UnknownNameError, match=r"Unknown parameter 'frictoin' of pendulum-rig.*"):
        get_system("pendulum-rig").with_parameters(frictoin=0.2)
    with pytest.raises(UnknownNameError, match=r"'cart_friction', 'pole_friction', 'motor_tau'"):
        simulate(system="cartpole-rig", n_trajectories=1, duration=0.1, params={"friction": 1})


def test_extend_refuses_parameters_the_base_system_already_has():
    with pytest.raises(ConfigError, match=r"\['mass'\] are already parameters of pendulum"):
        get_system("pendulum").extend(
            "heavy-pendulum",
            parameters=(Parameter("mass", 2.0, "rod mass, kg"),),
            apply=lambda spec, values: None,
            description="A heavier pendulum.",
        )


def test_make_rig_refuses_a_joint_the_base_system_lacks():
    with pytest.raises(UnknownNameError, match=r"Unknown joint 'knee'.*'friction'.*\['hinge'\]"):
        make_rig(get_system("pendulum"), friction={"friction": ("knee", 0.1)}, force_limit=1.0)


def test_rig_parameters_say_their_units():
    specs = get_system("cartpole-rig").parameter_specs
    assert specs["cart_friction"].description.endswith(", N")
    assert specs["pole_friction"].description.endswith(", N m")
    assert specs["force_limit"].description.endswith(", N")
    assert get_system("pendulum-rig").parameter_specs["force_limit"].description.endswith("N m")
