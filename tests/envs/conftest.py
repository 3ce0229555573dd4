"""Shared fixtures of the gymnasium tests: Pendulum-v1 data and a tiny fitted model per kind.

The models are fitted for two optimizer steps: the tests check the environments' behaviour,
not the models' accuracy (benchmarks/gym_roundtrip.py measures that).
"""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch

from hybridwm.data import TrajectorySet
from hybridwm.envs import collect
from hybridwm.models import KINDS, WorldModel
from hybridwm.physics import declare
from hybridwm.training import TrainConfig

torch.set_num_threads(1)

STATES = ("cos_theta", "sin_theta", "theta_dot")
ACTIONS = ("torque",)
DT = 0.05  # Pendulum-v1's step


def pendulum_prior():
    """Pendulum-v1's equations over its observations, with named parameters."""
    return declare(
        [
            "d(cos_theta) = -sin_theta*theta_dot",
            "d(sin_theta) = cos_theta*theta_dot",
            "d(theta_dot) = a*sin_theta + b*torque",
        ],
        {"a": 15.0, "b": 3.0},
        action_names=list(ACTIONS),
    )


def reward(state: np.ndarray, action: np.ndarray, next_state: np.ndarray) -> np.ndarray:
    """Pendulum-v1's reward, batched: upright and still is best."""
    theta = np.arctan2(state[:, 1], state[:, 0])
    return -(theta**2 + 0.1 * state[:, 2] ** 2 + 0.001 * action[:, 0] ** 2)


@pytest.fixture(scope="session")
def pendulum_data() -> TrajectorySet:
    """Six short Pendulum-v1 episodes (truncated at 30 steps)."""
    env = gym.make("Pendulum-v1")
    return collect(
        env,
        "piecewise",
        episodes=6,
        seed=0,
        state_names=STATES,
        action_names=ACTIONS,
        max_episode_steps=30,
    )


@pytest.fixture(scope="session")
def models(pendulum_data) -> dict[str, WorldModel]:
    """A tiny fitted model of every kind (the physics ones over the declared prior)."""
    config = TrainConfig(steps=2, horizon=5, batch_size=16, progress=False, patience=None)
    out = {}
    for kind in KINDS:
        physics = None if kind == "learned" else pendulum_prior()
        hidden = None if kind == "physics" else (8,)
        model = WorldModel.from_kind(kind, physics=physics, hidden=hidden)
        with warnings.catch_warnings():  # two steps may well not improve on the start
            warnings.filterwarnings("ignore", "Training ran", UserWarning)
            out[kind] = model.fit(pendulum_data, config)
    return out
