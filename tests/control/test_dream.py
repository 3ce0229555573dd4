"""A policy trained inside the model: bounded actions, gradient steps, runs like a planner."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from hybridwm.control import (
    DreamConfig,
    DreamController,
    get_task,
    run_episode,
    train_dream_policy,
)
from hybridwm.errors import ConfigError, NotFittedError, ShapeError, UnknownNameError
from hybridwm.models import WorldModel

TASK = get_task("pendulum-swingup")
TINY = DreamConfig(hidden=(8,), horizon_seconds=0.2, steps=3, batch=8, lr=1e-2)


def test_training_takes_gradient_steps_and_is_reproducible(physics_model):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    policy, losses = train_dream_policy(physics_model, TASK, TINY)
    assert torch.equal(torch.rand(3), expected)  # the caller's random state is untouched
    assert len(losses) == 3 and all(math.isfinite(v) for v in losses)
    # the loss is minus the mean reward per imagined step: the upright cost lies in [0, 2]+
    assert all(v >= 0 for v in losses)
    again, losses_again = train_dream_policy(physics_model, TASK, TINY)
    assert losses == losses_again
    for a, b in zip(policy.parameters(), again.parameters(), strict=True):
        assert torch.equal(a, b)
    fresh, _ = train_dream_policy(physics_model, TASK, TINY.model_copy(update={"steps": 1}))
    moved = [
        not torch.equal(a, b) for a, b in zip(policy.parameters(), fresh.parameters(), strict=True)
    ]
    assert any(moved)  # two more Adam steps changed the weights


def test_the_start_box_names_states_and_otherwise_spans_angles_and_the_data(physics_model):
    from hybridwm.control.dream import start_box

    norm = physics_model.model_.dynamics.normalizer
    box = start_box(physics_model, TASK, DreamConfig(start_spread=2.0))
    assert box[:, 0].tolist() == [-math.pi, math.pi]  # theta is an angle
    mid, half = (norm.x_min[1] + norm.x_max[1]) / 2, (norm.x_max[1] - norm.x_min[1]) / 2
    torch.testing.assert_close(box[:, 1], torch.stack((mid - 2 * half, mid + 2 * half)))
    named = start_box(physics_model, TASK, DreamConfig(start_box={"omega": (-8.0, 6.0)}))
    assert named[:, 1].tolist() == [-8.0, 6.0]


def test_no_gradient_reaches_the_models_weights(pendulum_data):
    from hybridwm.training import TrainConfig

    cfg = TrainConfig(steps=1, horizon=3, batch_size=4, progress=False, patience=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = WorldModel.learned(hidden=(4,)).fit(pendulum_data, cfg)
    weights = [p for p in model.model_.parameters() if p.requires_grad]
    assert weights
    for p in weights:
        p.grad = None
    before = [p.detach().clone() for p in weights]
    train_dream_policy(model, TASK, TINY)
    assert all(p.grad is None for p in weights)
    assert all(torch.equal(a, p) for a, p in zip(before, weights, strict=True))


def test_actions_stay_within_the_bounds_and_angles_are_periodic(physics_model):
    policy, _ = train_dream_policy(physics_model, TASK, TINY)
    x = torch.tensor([[0.3, 1.0], [0.3 + 2 * math.pi, 1.0], [3.0, -50.0], [-2.0, 80.0]])
    u = policy(x.to(torch.float64))
    assert u.shape == (4, 1) and (u.abs() <= 2.0).all()
    torch.testing.assert_close(u[0], u[1])  # theta and theta + 2 pi act alike


def test_the_controller_runs_an_episode_like_a_planner(physics_model):
    policy, _ = train_dream_policy(physics_model, TASK, TINY)
    ep = run_episode(TASK, DreamController(policy, "dream-physics"), seconds=0.5)
    assert ep.model == "dream-physics" and ep.u.shape == (10, 1)
    assert len(ep.plan_seconds) == 10 and np.isfinite(ep.x).all()


def test_dream_errors_name_the_argument(physics_model):
    with pytest.raises(NotFittedError, match=r"not fitted yet"):
        train_dream_policy(WorldModel.learned(hidden=(4,)), TASK, TINY)
    with pytest.raises(ShapeError, match=r"must predict the cartpole states"):
        train_dream_policy(physics_model, get_task("cartpole-swingup"), TINY)
    with pytest.raises(ConfigError, match=r"steps"):
        DreamConfig(steps=0)
    with pytest.raises(ConfigError, match=r"horizon_seconds"):
        DreamConfig(horizon_seconds=-1.0)
    with pytest.raises(ConfigError, match=r"start_box.*'omega' has \(3.0, 1.0\)"):
        DreamConfig(start_box={"omega": (3.0, 1.0)})
    with pytest.raises(UnknownNameError, match=r"start_box names 'speed'.*\['theta', 'omega'\]"):
        train_dream_policy(
            physics_model, TASK, TINY.model_copy(update={"start_box": {"speed": (0, 1)}})
        )
    policy, _ = train_dream_policy(physics_model, TASK, TINY)
    with pytest.raises(ShapeError, match=r"`state` of DreamController.act must be 2 finite"):
        DreamController(policy).act(np.array([np.nan, 0.0]))
