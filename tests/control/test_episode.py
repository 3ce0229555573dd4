"""Closed loop on MuJoCo, the run directory, and ``hybridwm control``."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from hybridwm.cli import run
from hybridwm.control import MPPI, PlannerConfig, get_task, make_rollout, run_episode
from hybridwm.control.records import write_episode
from hybridwm.control.runner import control
from hybridwm.data import read_trajectories
from hybridwm.errors import ConfigError, FormatError, OutputError, UnknownNameError

TASK = get_task("pendulum-swingup")
TINY = PlannerConfig(samples=8, horizon=4)


def test_episode_records_the_executed_steps(physics_model):
    planner = MPPI(make_rollout(physics_model, TASK), TASK, TINY)
    ep = run_episode(TASK, planner, seconds=0.5, seed=1)
    assert ep.t.shape == (11,) and ep.x.shape == (11, 2) and ep.u.shape == (10, 1)
    assert ep.plan_seconds.shape == (10,) and ep.model == "physics"
    np.testing.assert_allclose(ep.x[0], TASK.initial_state(np.random.default_rng(1)))
    assert ep.total_return == pytest.approx(float(ep.rewards.sum()))
    assert not ep.success and not ep.terminated  # half a second cannot hold for 2 s
    # the states are MuJoCo's under the applied actions
    sim = TASK.get_system().simulate(ep.x[0], ep.u, TASK.dt)[0]
    np.testing.assert_allclose(sim.x, ep.x, atol=1e-9)


def test_a_cart_off_the_rail_ends_the_episode():
    task = get_task("cartpole-swingup").model_copy(
        update={"x0": [2.95, 0.0, 3.0, 0.0], "x0_noise": 0.0}
    )
    ep = run_episode(task, MPPI(make_rollout("oracle", task), task, TINY), seconds=2.0)
    assert ep.terminated and not ep.success and len(ep.u) < 40


def test_run_directory_holds_every_output(tmp_path: Path, physics_model):
    out = tmp_path / "ctl"
    ep = control(TASK, physics_model, planner=TINY, seconds=0.3, out=out, animation=False)
    results = json.loads((out / "results.json").read_text())
    assert results["return"] == pytest.approx(ep.total_return)
    assert results["success"] is False and results["model"] == "physics"
    assert results["planner"]["samples"] == 8 and results["animation"] == "not asked for"
    timings = json.loads((out / "timings.json").read_text())["planner"]
    assert timings["steps"] == 6 and timings["rate_hz"] > 0
    assert timings["median_rate_hz"] == pytest.approx(1 / timings["median_s"])
    assert timings["first_s"] > 0 and timings["max_s"] >= timings["first_s"]
    data = read_trajectories(out / "trajectory.parquet")
    np.testing.assert_allclose(data[0].x, ep.x)
    assert (out / "figures" / "episode.png").stat().st_size > 0


def test_cli_runs_the_oracle_and_renders_or_says_why(tmp_path: Path, capsys):
    out = tmp_path / "ctl"
    argv = ["control", "--task", "pendulum-swingup", "--model", "oracle", "--seconds", "0.2"]
    assert run([*argv, "--samples", "8", "--horizon", "3", "--out", str(out)]) == 0
    assert "pendulum-swingup with oracle" in " ".join(capsys.readouterr().out.split())
    note = json.loads((out / "results.json").read_text())["animation"]
    assert note == "animation.gif" or note.startswith("No animation: MuJoCo offscreen")
    if note == "animation.gif":
        assert (out / "animation.gif").read_bytes()[:6] in (b"GIF87a", b"GIF89a")


def test_control_errors_name_the_argument(tmp_path: Path, physics_model):
    with pytest.raises(UnknownNameError, match=r"Unknown task 'swing' for `task`"):
        control("swing", "oracle")
    with pytest.raises(ConfigError, match=r"`model` must be 'oracle' or the run directory"):
        control(TASK, tmp_path / "missing")
    with pytest.raises(FormatError):
        control(TASK, tmp_path)  # a directory that holds no model
    with pytest.raises(ConfigError, match=r"`seconds` of run_episode must be a number > 0"):
        control(TASK, physics_model, planner=TINY, seconds=-1.0)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    ep = run_episode(TASK, MPPI(make_rollout(physics_model, TASK), TASK, TINY), seconds=0.1)
    with pytest.raises(OutputError, match=r"`out` .* exists and is not a directory"):
        write_episode(blocker, ep, TASK, TINY, animation=False)
    assert blocker.read_text() == "x"


def test_cli_errors_are_one_line(tmp_path: Path, capsys):
    base = ["control", "--task", "pendulum-swingup", "--out", str(tmp_path / "o")]
    assert run([*base, "--model", "oracle", "--seconds", "-1"]) == 2
    assert "`seconds` of run_episode must be a number > 0" in capsys.readouterr().err
    assert run([*base, "--model", str(tmp_path / "nope")]) == 2
    assert "`model` must be 'oracle'" in " ".join(capsys.readouterr().err.split())
    assert run([*base, "--model", "oracle", "--param", "mass=-1"]) == 2
    assert "mass" in capsys.readouterr().err
    assert run([*base, "--model", "oracle", "--compile"]) == 2
    assert "`compile=True` compiles a WorldModel's solve" in capsys.readouterr().err


def test_a_compiled_planner_acts_as_the_plain_one(physics_model):
    plain = control(TASK, physics_model, planner=TINY, seconds=0.3, animation=False)
    compiled = control(TASK, physics_model, planner=TINY, seconds=0.3, compile=True)
    np.testing.assert_allclose(compiled.u, plain.u, rtol=0.0, atol=1e-9)
    np.testing.assert_allclose(compiled.x, plain.x, rtol=0.0, atol=1e-9)


def test_upright_start_with_the_exact_model_succeeds(physics_model):
    task = TASK.model_copy(update={"x0": [math.pi - 0.1, 0.0], "x0_noise": 0.0})
    planner = MPPI(make_rollout(physics_model, task), task, PlannerConfig(samples=32, horizon=8))
    ep = run_episode(task, planner, seconds=2.2)
    assert ep.success, task.goal_error(torch.as_tensor(ep.x))[-10:]
