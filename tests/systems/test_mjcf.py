"""The user's own MJCF model: names, bounds and parameters from the file, events per sample,
the same trajectories as MuJoCo itself, and clear errors for files that cannot be used."""

from __future__ import annotations

from pathlib import Path

import mujoco
import numpy as np
import pytest

from hybridwm.data import decode_events
from hybridwm.errors import DataError, FormatError, UnknownNameError
from hybridwm.systems import System, mjcf_scenario, simulate
from hybridwm.systems import mjcf as mjcf_module

#: a cart on a rail limited to ±0.3 m carrying a free pole; the force motor has gear 2
RAIL = """
<mujoco model="rail cart">
  <option timestep="0.002" integrator="RK4"><flag contact="disable"/></option>
  <worldbody>
    <body name="cart">
      <joint name="slider" type="slide" axis="1 0 0" damping="0.1" range="-0.3 0.3"/>
      <inertial pos="0 0 0" mass="1.0" diaginertia="0.01 0.02 0.03"/>
      <geom name="cart" type="box" size="0.2 0.1 0.05"/>
      <body name="pole">
        <joint name="pole-hinge" type="hinge" axis="0 -1 0" damping="0.01"/>
        <geom name="rod" type="capsule" fromto="0 0 0 0 0 -1" size="0.02" density="500"/>
      </body>
    </body>
  </worldbody>
  <actuator><motor name="force" joint="slider" gear="2" ctrlrange="-4 4"/></actuator>
</mujoco>
"""

#: a ball on a slider above a floor: it falls into contact
DROP = """
<mujoco>
  <option timestep="0.005"/>
  <worldbody>
    <geom name="floor" type="plane" size="1 1 0.1"/>
    <body name="ball" pos="0 0 0.3">
      <joint name="z" type="slide" axis="0 0 1"/>
      <geom name="ball" type="sphere" size="0.05" mass="0.2"/>
    </body>
  </worldbody>
</mujoco>
"""


def write(tmp_path: Path, text: str, name: str = "model.xml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.fixture
def rail(tmp_path: Path) -> System:
    return System.from_mjcf(write(tmp_path, RAIL))


def test_states_actions_angles_and_bounds_come_from_the_file(rail: System) -> None:
    assert rail.name == "rail cart"
    assert rail.state_names == ("slider", "pole_hinge", "slider_vel", "pole_hinge_vel")
    assert rail.angle_names == ("pole_hinge",)
    assert rail.action_names == ("force",)
    np.testing.assert_array_equal(rail.action_bounds, [[-4.0, 4.0]])
    assert rail.timestep == 0.002
    p = rail.parameters
    assert p["cart.mass"] == 1.0 and p["slider.damping"] == 0.1 and p["force.gear"] == 2.0
    assert p["rod.size0"] == 0.02 and "rod.size1" not in p  # a fromto length is not a size
    assert {"cart.size0", "cart.size1", "cart.size2", "pole.mass"} <= set(p)


def test_parameters_override_the_compiled_model(rail: System) -> None:
    base = rail.model()
    changed = rail.with_parameters(
        **{
            "cart.mass": 2.0,
            "slider.damping": 0.5,
            "pole-hinge.frictionloss": 0.2,
            "rod.size0": 0.04,
            "force.gear": -1.0,
        }
    ).model()
    assert changed.body_mass[1] == 2.0
    np.testing.assert_allclose(changed.body_inertia[1], 2 * base.body_inertia[1])
    # the pole's mass comes from its geom: the density doubles with it (same shape)
    heavy = rail.with_parameters(**{"pole.mass": 2 * float(base.body_mass[2])}).model()
    np.testing.assert_allclose(heavy.body_mass[2], 2 * base.body_mass[2])
    np.testing.assert_allclose(heavy.body_inertia[2], 2 * base.body_inertia[2])
    assert changed.dof_damping[0] == 0.5 and changed.dof_frictionloss[1] == 0.2
    assert changed.geom_size[1, 0] == 0.04 and changed.actuator_gear[0, 0] == -1.0
    with pytest.raises(UnknownNameError, match=r"Valid names: 'cart\.mass'"):
        rail.with_parameters(mass=1.0)


def test_simulate_reproduces_a_plain_mj_step_loop_bit_for_bit(rail: System, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x0 = np.array([0.1, 0.5, -0.2, 1.0])
    actions = rng.uniform(-4, 4, size=(40, 1))
    got = rail.simulate(x0, actions, dt=0.01)[0].x
    model = mujoco.MjModel.from_xml_path(str(tmp_path / "model.xml"))
    data = mujoco.MjData(model)
    data.qpos[:], data.qvel[:] = x0[:2], x0[2:]
    want = [x0]
    for u in actions:
        data.ctrl[:] = u
        for _ in range(5):
            mujoco.mj_step(model, data)
        want.append(np.concatenate([data.qpos, data.qvel]))
    np.testing.assert_array_equal(got, np.array(want))


def test_limit_events_flag_the_samples_around_the_rail_stops(rail: System) -> None:
    actions = np.full((1, 150, 1), 4.0)  # pushed into the +0.3 m stop and held there
    tr = rail.simulate(np.zeros(4), actions, dt=0.01)[0]
    flags = decode_events(tr)
    assert set(flags) == {"at_limit", "in_contact"} and not flags["in_contact"].any()
    beyond = tr.state("slider") > 0.3
    assert beyond.any() and flags["at_limit"][beyond].all()
    first = int(np.argmax(flags["at_limit"]))
    assert first > 0 and not flags["at_limit"][: first - 1].any()
    assert tr.state("slider")[first - 1] < 0.3  # a neighbour of the first sample beyond
    shipped = simulate(system="cartpole", n_trajectories=1, duration=0.1)
    assert "events" not in shipped[0].meta  # the shipped systems record none


def test_contact_events_come_from_mujoco_collisions(tmp_path: Path) -> None:
    drop = System.from_mjcf(write(tmp_path, DROP))
    assert drop.state_names == ("z", "z_vel") and drop.angle_names == () and drop.n_u == 0
    tr = drop.simulate(np.zeros(2), np.zeros((60, 0)), dt=0.01)[0]
    contact = decode_events(tr)["in_contact"]
    height = 0.3 + tr.state("z")  # the ball's centre above the floor
    assert not contact[height > 0.1].any()
    assert contact[height < 0.05].all() and contact[-1]


def test_the_mjcf_scenario_starts_near_zero_inside_the_limits(rail: System) -> None:
    train = mjcf_scenario(rail, "train")
    assert train.dt == 0.01 and train.initial_state["slider"] == (-0.1, 0.1)
    assert mjcf_scenario(rail, "id").seed_offset == 1
    with pytest.raises(UnknownNameError, match="'id', 'train'"):
        mjcf_scenario(rail, "ood-state")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("<mujoco><worldbody>", "not well-formed XML"),
        ("<robot/>", "root element is <robot>, not <mujoco>"),
        ('<!DOCTYPE m [<!ENTITY a "aaaa">]><mujoco/>', "does not expand"),
        ('<mujoco><option timestep="fast"/></mujoco>', "MuJoCo cannot load"),
        (
            '<mujoco><worldbody><body><freejoint name="base"/><geom size="1"/></body>'
            "</worldbody></mujoco>",
            "'base' .* is a free joint.*remove the freejoint",
        ),
        (
            '<mujoco><worldbody><body><joint name="j"/><geom size="1"/></body></worldbody>'
            '<actuator><motor name="m" joint="j"/></actuator></mujoco>',
            "Actuator 'm' .* has no control range.*ctrlrange",
        ),
        (
            '<mujoco><worldbody><replicate count="1000" offset="1 0 0"><replicate count="1000"'
            ' offset="0 1 0"><geom size="1"/></replicate></replicate></worldbody></mujoco>',
            "1001003 elements.*Reduce the <replicate> counts",
        ),
    ],
)
def test_unusable_files_are_refused_with_the_fix(tmp_path: Path, text: str, match: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(FormatError, match=match) as info:
        System.from_mjcf(path)
    assert str(path) in str(info.value)


def test_missing_big_and_changed_files_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(FormatError, match=r"none\.xml does not exist.*--mjcf robot\.xml"):
        System.from_mjcf(tmp_path / "none.xml")
    with pytest.raises(FormatError, match="is a directory"):
        System.from_mjcf(tmp_path)
    path = write(tmp_path, RAIL)
    monkeypatch.setattr(mjcf_module, "MAX_MJCF_BYTES", 100)
    with pytest.raises(FormatError, match="at most 100 are read"):
        System.from_mjcf(path)
    monkeypatch.undo()
    rail = System.from_mjcf(path)
    path.write_text(RAIL.replace('gear="2"', 'gear="3"'))
    with pytest.raises(DataError, match=r"changed since it was loaded.*from_mjcf"):
        rail.with_parameters(**{"cart.mass": 3.0}).model()


def test_events_are_the_same_in_chunks_and_threads(rail: System) -> None:
    rng = np.random.default_rng(1)
    x0 = rng.uniform(-0.25, 0.25, size=(32, 4))
    actions = rng.uniform(-1, 4, size=(32, 60, 1))
    one = rail.simulate(x0, actions, dt=0.01, nthread=1)
    chunked = rail.simulate(x0, actions, dt=0.01, nthread=2, progress=True)
    assert sum(any(tr.meta["events"]["at_limit"]) for tr in one) > 0
    for a, b in zip(one, chunked, strict=True):
        np.testing.assert_array_equal(a.x, b.x)
        assert a.meta["events"] == b.meta["events"]
