"""System: names, shapes, metadata, parameters, energy and the rollout contract."""

from __future__ import annotations

import json

import mujoco
import numpy as np
import pytest

from hybridwm.data import read_trajectories, write_trajectories
from hybridwm.errors import ConfigError, DataError, ShapeError, SimulationError, UnknownNameError
from hybridwm.systems import get_system, list_systems

NAMES = {
    "pendulum": (("theta", "omega"), ("torque",)),
    "cartpole": (("x", "theta", "v", "omega"), ("force",)),
    "acrobot": (("theta1", "theta2", "omega1", "omega2"), ("torque",)),
    "reacher": (("theta1", "theta2", "omega1", "omega2"), ("tau1", "tau2")),
}


def _batch(system, n=3, steps=20, seed=0):
    rng = np.random.default_rng(seed)
    x0 = rng.uniform(-0.5, 0.5, size=(n, system.n_x))
    b = system.action_bounds
    u = rng.uniform(b[:, 0], b[:, 1], size=(n, steps, system.n_u))
    return x0, u


def test_catalogue_has_the_four_systems_with_their_names():
    assert set(NAMES) <= set(list_systems())
    for name, (states, actions) in NAMES.items():
        s = get_system(name)
        assert s.state_names == states and s.action_names == actions
        assert s.action_bounds.shape == (len(actions), 2)
        assert set(s.angle_names) <= set(states)
        m = s.model()
        assert m.opt.integrator == mujoco.mjtIntegrator.mjINT_RK4
        assert m.nq + m.nv == len(states) and m.nu == len(actions)
        assert s.timestep in (0.001, 0.002)


@pytest.mark.parametrize("name", sorted(NAMES))
def test_python_defaults_match_the_shipped_asset(name):
    s = get_system(name)
    raw = mujoco.MjModel.from_xml_path(str(_asset(s.asset)))
    ours = s.model()
    for f in ("body_mass", "body_ipos", "body_inertia", "body_pos", "dof_damping", "actuator_gear"):
        np.testing.assert_allclose(getattr(ours, f), getattr(raw, f), atol=1e-10, err_msg=f)
    np.testing.assert_allclose(ours.opt.gravity, raw.opt.gravity)


def _asset(filename):
    from importlib import resources

    return resources.files("hybridwm.systems").joinpath("assets", filename)


def test_simulate_shapes_time_grid_actions_and_meta():
    s = get_system("cartpole")
    x0, u = _batch(s, n=3, steps=20)
    ts = s.simulate(x0, u, 0.01, meta={"scenario": "manual"}, t0=1.0)
    assert len(ts) == 3 and ts.state_names == NAMES["cartpole"][0]
    tr = ts[1]
    np.testing.assert_allclose(tr.t, 1.0 + 0.01 * np.arange(21))
    assert tr.x.shape == (21, 4) and tr.u.shape == (21, 1)
    np.testing.assert_array_equal(tr.x[0], x0[1])
    np.testing.assert_array_equal(tr.u[:20], u[1])
    np.testing.assert_array_equal(tr.u[20], u[1, -1])
    assert tr.meta["system"] == "cartpole" and tr.meta["index"] == 1
    assert tr.meta["scenario"] == "manual" and tr.meta["parameters"] == s.parameters


@pytest.mark.parametrize("name", sorted(NAMES))
def test_simulate_records_the_angle_states_in_meta(name, tmp_path):
    s = get_system(name)
    x0, u = _batch(s, n=2, steps=3)
    shared = s.simulate(x0, u, 0.01)
    per_trajectory = s.simulate(x0, u, 0.01, meta=[{"k": 0}, {"k": 1}])
    for tr in (*shared, *per_trajectory):
        assert tr.meta["angles"] == list(s.angle_names) and tr.meta["system"] == name
        assert json.loads(json.dumps(tr.meta))["angles"] == list(s.angle_names)
    assert [tr.meta["k"] for tr in per_trajectory] == [0, 1]
    again = read_trajectories(write_trajectories(shared, tmp_path / "a.parquet"))
    assert again[0].meta["angles"] == list(s.angle_names)


def test_simulate_matches_a_plain_mj_step_loop_with_held_actions():
    s = get_system("pendulum")
    x0, u = _batch(s, n=2, steps=10)
    ts = s.simulate(x0, u, 0.01, nthread=2)
    m = s.model()
    d = mujoco.MjData(m)
    d.qpos[:], d.qvel[:] = x0[1, :1], x0[1, 1:]
    for k in range(10):
        d.ctrl[:] = u[1, k]
        mujoco.mj_step(m, d, nstep=5)
        np.testing.assert_allclose(ts[1].x[k + 1], np.r_[d.qpos, d.qvel], rtol=0, atol=1e-12)


def test_single_state_and_2d_actions_give_one_trajectory():
    s = get_system("pendulum")
    ts = s.simulate(np.array([0.1, 0.0]), np.zeros((5, 1)), 0.002)
    assert len(ts) == 1 and len(ts[0]) == 6


def test_parameter_override_changes_dynamics_and_geometry():
    s = get_system("pendulum")
    x0, u = _batch(s, n=1, steps=50)
    base = s.simulate(x0, u, 0.01)[0].x
    heavy = s.with_parameters(mass=2.0)
    assert heavy.parameters["mass"] == 2.0 and s.parameters["mass"] == 1.0
    assert np.abs(heavy.simulate(x0, u, 0.01)[0].x - base).max() > 1e-3
    longer = s.with_parameters(length=2.0).model()
    np.testing.assert_allclose(longer.body_ipos[1], [0, 0, -1.0])
    np.testing.assert_allclose(longer.geom_size[0, 1], 1.0)  # capsule half-length
    arm = get_system("acrobot").with_parameters(length1=1.5).model()
    np.testing.assert_allclose(arm.body_pos[2], [0, 0, -1.5])
    per_call = s.simulate(x0, u, 0.01, parameters={"mass": 2.0})
    np.testing.assert_array_equal(per_call[0].x, heavy.simulate(x0, u, 0.01)[0].x)
    assert per_call[0].meta["parameters"]["mass"] == 2.0


def test_unknown_parameter_lists_valid_names():
    with pytest.raises(UnknownNameError, match=r"Unknown parameter 'mas' of pendulum.*'mass'"):
        get_system("pendulum").with_parameters(mas=2.0)


@pytest.mark.parametrize(
    ("name", "value", "pattern"),
    [
        ("mass", -1.0, r"`mass` of pendulum.*must be finite and > 0\. Got -1\.0"),
        ("length", 0.0, r"`length` of pendulum.*> 0\. Got 0\.0"),
        ("damping", -0.1, r"`damping` of pendulum.*>= 0\. Got -0\.1"),
        ("mass", float("nan"), r"`mass` of pendulum.*Got nan"),
        ("mass", "heavy", r"`mass` of pendulum must be a number\. Got 'heavy'"),
    ],
)
def test_non_physical_parameters_raise(name, value, pattern):
    with pytest.raises(ConfigError, match=pattern):
        get_system("pendulum").with_parameters(**{name: value})


def test_dt_must_be_positive_multiple_of_timestep():
    s = get_system("pendulum")
    x0, u = _batch(s, n=1, steps=2)
    with pytest.raises(ConfigError, match=r"`dt` of simulate must be > 0\. Got -0\.01 instead"):
        s.simulate(x0, u, -0.01)
    with pytest.raises(
        ConfigError, match=r"multiple of the pendulum model timestep 0\.002 s.*Got 0\.003"
    ):
        s.simulate(x0, u, 0.003)


def test_wrong_shapes_name_both_shapes():
    s = get_system("cartpole")
    x0, u = _batch(s, n=2, steps=3)
    with pytest.raises(
        ShapeError, match=r"`x0` of simulate must have shape \(n, 4\).*Got shape \(2, 3\)"
    ):
        s.simulate(x0[:, :3], u, 0.01)
    with pytest.raises(
        ShapeError, match=r"`actions` of simulate must have shape \(n, T, 1\).*\(2, 3, 2\)"
    ):
        s.simulate(x0, np.zeros((2, 3, 2)), 0.01)
    with pytest.raises(
        ShapeError, match=r"x0 has shape \(2, 4\) \(n=2\) but actions has shape \(3, 3, 1\)"
    ):
        s.simulate(x0, np.zeros((3, 3, 1)), 0.01)


def test_nan_inputs_name_trajectory_and_column():
    s = get_system("cartpole")
    x0, u = _batch(s, n=2, steps=3)
    x0[1, 2] = np.nan
    with pytest.raises(
        DataError, match=r"`x0` of simulate has NaN for trajectory 1 at in column `v`"
    ):
        s.simulate(x0, u, 0.01)
    x0[1, 2] = 0.0
    u[0, 2, 0] = np.inf
    with pytest.raises(
        DataError, match=r"`actions` of simulate has inf for trajectory 0 at step 2"
    ):
        s.simulate(x0, u, 0.01)


def test_out_of_bound_actions_are_clipped_with_a_warning():
    s = get_system("pendulum")
    x0, _ = _batch(s, n=1, steps=2)
    with pytest.warns(UserWarning, match="exceed the pendulum action bounds"):
        ts = s.simulate(x0, np.full((1, 2, 1), 5.0), 0.01)
    assert ts[0].u.max() == 2.0


def test_divergence_raises_simulation_error_naming_the_trajectory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # MuJoCo writes its warning log to the working directory
    s = get_system("pendulum")
    x0 = np.array([[0.1, 0.0], [0.0, 1e12]])
    with pytest.raises(SimulationError, match=r"simulation of trajectory 1 .*became unstable"):
        s.simulate(x0, np.zeros((2, 3, 1)), 0.01)


@pytest.mark.parametrize("name", sorted(NAMES))
def test_energy_matches_mujoco(name):
    s = get_system(name)
    params = {k: v * 1.3 for k, v in s.parameters.items()}
    m = s.model(params)
    m.opt.enableflags |= mujoco.mjtEnableBit.mjENBL_ENERGY
    d = mujoco.MjData(m)
    x = np.random.default_rng(1).uniform(-2, 2, size=(5, s.n_x))
    ref = []
    for xi in x:
        d.qpos[:], d.qvel[:] = xi[: m.nq], xi[m.nq :]
        mujoco.mj_forward(m, d)
        ref.append(d.energy.sum())
    np.testing.assert_allclose(s.energy(x, parameters=params), ref, rtol=1e-10, atol=1e-10)
    assert s.energy(x.reshape(5, 1, s.n_x), parameters=params).shape == (5, 1)


def test_energy_decreases_without_actions_for_the_damped_pendulum():
    s = get_system("pendulum")
    ts = s.simulate(np.array([[1.0, 0.0]]), np.zeros((1, 100, 1)), 0.01)
    e = s.energy(ts[0].x)
    assert np.all(np.diff(e) <= 1e-12) and e[-1] < e[0]
    with pytest.raises(ShapeError, match=r"`x` of energy must have shape \(\.\.\., 2\)"):
        s.energy(np.zeros((3, 4)))
