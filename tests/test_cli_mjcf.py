"""``hybridwm simulate --mjcf``: the user's own model, written here, gives exactly MuJoCo's
trajectories; its parameters are flags; its limit events go into the file."""

from __future__ import annotations

import json
from pathlib import Path

import mujoco
import numpy as np
import pytest
from mujoco import rollout

from hybridwm.cli import run
from hybridwm.data import decode_events, read_trajectories

#: a two-link arm on a slider with limits on the slider; RK4, contacts off
MODEL = """
<mujoco model="slider arm">
  <option timestep="0.004" integrator="RK4"><flag contact="disable"/></option>
  <worldbody>
    <body name="base">
      <joint name="rail" type="slide" axis="1 0 0" damping="{damping}" range="-0.1 0.1"/>
      <geom name="base" type="box" size="0.1 0.1 0.1" mass="2"/>
      <body name="upper">
        <joint name="shoulder" type="hinge" axis="0 1 0" damping="0.02"/>
        <geom name="upper" type="capsule" fromto="0 0 0 0 0 -0.5" size="0.03" mass="0.4"/>
        <body name="lower" pos="0 0 -0.5">
          <joint name="elbow" type="hinge" axis="0 1 0"/>
          <geom name="lower" type="capsule" fromto="0 0 0 0 0 -0.4" size="0.03" mass="0.3"/>
        </body>
      </body>
    </body>
  </worldbody>
  <actuator>
    <motor name="push" joint="rail" ctrlrange="-6 6"/>
    <motor name="twist" joint="elbow" gear="0.5" ctrlrange="-1 1"/>
  </actuator>
</mujoco>
"""


def mujoco_rollout(path: Path, x: np.ndarray, u: np.ndarray, n_sub: int) -> np.ndarray:
    """The states at the samples of one direct ``mujoco.rollout`` call from the file.

    Args:
        path: the MJCF file.
        x: (n, T+1, nq + nv) recorded states (only ``x[:, 0]`` is used).
        u: (n, T+1, nu) recorded actions (the last row is not applied).
        n_sub: MuJoCo steps per sample.

    Returns:
        (n, T+1, nq + nv) states.
    """
    model = mujoco.MjModel.from_xml_path(str(path))
    data = mujoco.MjData(model)
    full = mujoco.mjtState.mjSTATE_FULLPHYSICS
    init = np.empty((len(x), mujoco.mj_stateSize(model, full)))
    for i, x0 in enumerate(x[:, 0]):
        mujoco.mj_resetData(model, data)
        data.qpos[:], data.qvel[:] = x0[: model.nq], x0[model.nq :]
        mujoco.mj_getState(model, data, init[i], full)
    state, _ = rollout.rollout(model, data, init, np.repeat(u[:, :-1], n_sub, axis=1))
    nx = model.nq + model.nv
    return np.concatenate([x[:, :1], state[:, n_sub - 1 :: n_sub, 1 : 1 + nx]], axis=1)


def test_simulate_mjcf_reproduces_mujoco_rollout_bit_for_bit(tmp_path: Path) -> None:
    path = tmp_path / "arm.xml"
    path.write_text(MODEL.format(damping="0.1"))
    out = tmp_path / "arm.parquet"
    args = ["simulate", "--mjcf", str(path), "--n-trajectories", "3", "--duration", "0.6"]
    assert run([*args, "--seed", "4", "--policy", "ou", "--no-progress", "--out", str(out)]) == 0
    data = read_trajectories(out)
    assert data.state_names == (
        "rail",
        "shoulder",
        "elbow",
        "rail_vel",
        "shoulder_vel",
        "elbow_vel",
    )
    assert data.action_names == ("push", "twist") and data[0].meta["angles"] == [
        "shoulder",
        "elbow",
    ]
    assert data[0].meta["policy"] == "ou" and data[0].meta["system"] == "slider arm"
    x = np.stack([tr.x for tr in data])
    u = np.stack([tr.u for tr in data])
    assert x.shape == (3, 76, 6)  # dt = 0.008 (the step nearest 0.01 s): 2 MuJoCo steps
    np.testing.assert_array_equal(x, mujoco_rollout(path, x, u, n_sub=2))
    beyond = np.abs(x[..., 0]) > 0.1
    flagged = np.stack([decode_events(tr)["at_limit"] for tr in data])
    assert beyond.any() and flagged[beyond].all()  # the rail limit is flagged where it acts


def test_a_param_flag_equals_editing_the_file(tmp_path: Path) -> None:
    base, edited = tmp_path / "arm.xml", tmp_path / "edited.xml"
    base.write_text(MODEL.format(damping="0.1"))
    edited.write_text(MODEL.format(damping="0.7"))
    common = ["simulate", "--n-trajectories", "2", "--duration", "0.3", "--no-progress"]
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    assert run([*common, "--mjcf", str(base), "--param", "rail.damping=0.7", "--out", str(a)]) == 0
    assert run([*common, "--mjcf", str(edited), "--out", str(b)]) == 0
    xa, xb = read_trajectories(a), read_trajectories(b)
    np.testing.assert_array_equal(np.stack([tr.x for tr in xa]), np.stack([tr.x for tr in xb]))
    assert xa[0].meta["parameters"]["rail.damping"] == 0.7


def test_systems_shows_the_names_and_parameters_of_a_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "arm.xml"
    path.write_text(MODEL.format(damping="0.1"))
    assert run(["systems", "--mjcf", str(path), "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["name"] == "slider arm" and row["scenarios"] == ["train", "id"]
    assert row["actions"] == ["push", "twist"] and row["action_bounds"] == [[-6, 6], [-1, 1]]
    assert row["parameters"]["twist.gear"] == 0.5 and row["parameters"]["upper.mass"] == 0.4


def test_mjcf_errors_name_the_file_and_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "x.parquet")
    assert run(["simulate", "--mjcf", str(tmp_path / "robot.xml"), "--out", out]) == 2
    assert "robot.xml does not exist" in capsys.readouterr().err
    path = tmp_path / "arm.xml"
    path.write_text(MODEL.format(damping="0.1"))
    assert run(["simulate", "--mjcf", str(path), "--system", "cartpole", "--out", out]) == 2
    assert "not both" in capsys.readouterr().err
    assert run(["simulate", "--mjcf", str(path), "--param", "mass=2", "--out", out]) == 2
    assert "'base.mass'" in capsys.readouterr().err
    assert run(["simulate", "--system", "my_robot.xml", "--out", out]) == 2
    assert "hybridwm simulate --mjcf my_robot.xml" in capsys.readouterr().err
