"""Tasks as data: rewards, goal errors, termination and success rules on exact states."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hybridwm.control import TASKS, Task, get_task, list_tasks
from hybridwm.errors import ConfigError, ShapeError, UnknownNameError


def test_the_shipped_tasks_are_registered():
    assert list_tasks() == [
        "acrobot-swingup",
        "cartpole-swingup",
        "pendulum-rig-swingup",
        "pendulum-swingup",
        "reacher-reach",
    ]
    assert get_task("cartpole-swingup").system == "cartpole"
    with pytest.raises(UnknownNameError, match=r"Unknown task 'pendulum'.*pendulum-swingup"):
        get_task("pendulum")


def test_upright_reward_is_best_upright_and_batched():
    task = get_task("pendulum-swingup")
    states = torch.tensor([[[0.0, 0.0], [math.pi, 0.0], [-math.pi, 0.0], [math.pi / 2, 0.0]]])
    actions = torch.zeros(1, 4, 1)
    reward = task.reward(states, actions)
    assert reward.shape == (1, 4)
    assert torch.allclose(reward[0, 1], torch.tensor(0.0), atol=1e-12)
    assert reward[0, 0] == pytest.approx(-2.0)
    error = task.goal_error(states)[0]
    assert torch.allclose(error, torch.tensor([math.pi, 0.0, 0.0, math.pi / 2]), atol=1e-12)
    # angles wrap: three turns on is still upright
    up = torch.tensor([7 * math.pi, 0.0], dtype=torch.float64)
    assert float(task.goal_error(up)) == pytest.approx(0, abs=1e-9)


def test_action_and_velocity_costs_lower_the_reward():
    task = get_task("pendulum-swingup")
    up = torch.tensor([math.pi, 0.0])
    still = task.reward(up, torch.zeros(1))
    assert task.reward(up, torch.tensor([2.0])) == pytest.approx(float(still) - 0.001)
    assert task.reward(torch.tensor([math.pi, 1.0]), torch.zeros(1)) < still


def test_cartpole_terminates_off_the_rail_and_on_nan():
    task = get_task("cartpole-swingup")
    states = torch.tensor(
        [[0.0, math.pi, 0, 0], [3.5, math.pi, 0, 0], [float("nan"), 0, 0, 0]],
        dtype=torch.float64,
    )
    assert task.terminated(states).tolist() == [False, True, True]
    reward = task.reward(states, torch.zeros(3, 1, dtype=torch.float64))
    assert reward[1] < -task.termination_penalty
    assert reward[2] == -math.inf


def test_acrobot_tip_height_and_reacher_distance():
    acrobot = get_task("acrobot-swingup")
    hanging, upright = torch.zeros(4), torch.tensor([math.pi, 0.0, 0.0, 0.0])
    assert float(acrobot.goal_error(hanging)) == pytest.approx(4.0)  # 2 m below the top
    assert float(acrobot.goal_error(upright)) == pytest.approx(0.0, abs=1e-12)
    reacher = get_task("reacher-reach")
    straight = torch.zeros(4)  # tip at (1, 0), target (0.3, 0.5)
    assert float(reacher.goal_error(straight)) == pytest.approx(math.hypot(0.7, 0.5))


def test_hold_success_needs_the_whole_window():
    task = get_task("pendulum-swingup")  # dt 0.05, hold 2 s within 0.2 rad
    n = 100
    x = torch.zeros(n, 2, dtype=torch.float64)
    x[-41:, 0] = math.pi - 0.1
    assert task.succeeded(x)
    x[-30, 0] = math.pi - 0.3
    assert not task.succeeded(x)
    assert not task.succeeded(x[:10])


def test_reach_success_needs_one_sample():
    task = get_task("acrobot-swingup")  # tip within 1 m of the top, once
    x = torch.zeros(20, 4, dtype=torch.float64)
    assert not task.succeeded(x)
    x[7, 0] = math.pi
    assert task.succeeded(x)


def test_initial_state_is_seeded():
    task = get_task("cartpole-swingup")
    a = task.initial_state(np.random.default_rng(3))
    b = task.initial_state(np.random.default_rng(3))
    assert a.shape == (4,) and np.array_equal(a, b)
    assert np.abs(a).max() < 0.5


def _spec(**changes):
    base = TASKS["pendulum-swingup"].model_dump()
    base.update(changes)
    return base


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"x0": [0.0]}, r"`x0` of task 'pendulum-swingup' must hold 2 values"),
        ({"angle": "phi"}, r"`angle` of task .* must be a pendulum state \['theta', 'omega'\]"),
        ({"angle": None}, r"objective 'upright' needs `angle`"),
        ({"objective": "reach"}, r"objective 'reach' needs `target`"),
        ({"position_limit": 2.0}, r"`position_limit` .* needs `position`"),
        ({"dt": 0.003}, r"`dt` of simulate must be a multiple of the pendulum model timestep"),
        ({"system": "pendulm"}, r"Unknown system 'pendulm'"),
        ({"tolerance": -1.0}, r"tolerance"),
        ({"parameters": {"mas": 2.0}}, r"Unknown parameter 'mas' .* `parameters of task"),
        ({"parameters": {"mass": -2.0}}, r"mass"),
    ],
)
def test_task_errors_name_the_field(changes, match):
    with pytest.raises(ConfigError, match=match):
        Task(**_spec(**changes))


def test_shape_errors_name_the_argument():
    task = get_task("pendulum-swingup")
    with pytest.raises(
        ShapeError, match=r"`states` of task 'pendulum-swingup' must be .*\[\.\.\., 2\]"
    ):
        task.reward(torch.zeros(3, 4), torch.zeros(3, 1))
    with pytest.raises(ShapeError, match=r"`actions` of task .* \[\.\.\., 1\] of pendulum actions"):
        task.reward(torch.zeros(3, 2), torch.zeros(3, 2))
    with pytest.raises(ShapeError, match=r"one episode \(T\+1, n_x\)"):
        task.succeeded(torch.zeros(2, 5, 2))


def test_a_task_s_parameters_are_its_system_s_everywhere():
    from hybridwm.control import PlannerConfig, make_planner, make_rollout, run_episode

    task = get_task("pendulum-rig-swingup")
    assert task.parameters == {"force_limit": 2.0}
    assert task.get_system().parameters["force_limit"] == 2.0
    short = task.model_copy(update={"seconds": 0.2})
    oracle = make_rollout("oracle", short)
    planner = make_planner(oracle, short, PlannerConfig(samples=8, horizon=3))
    episode = run_episode(short, planner)
    assert episode.parameters["force_limit"] == 2.0 and episode.parameters["friction"] == 0.1
    # an episode's own change comes on top of the task's values
    heavy = run_episode(short, planner, parameters={"mass": 1.3})
    assert heavy.parameters["force_limit"] == 2.0 and heavy.parameters["mass"] == 1.3
