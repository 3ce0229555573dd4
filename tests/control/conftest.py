"""Shared fixtures of the control tests: pendulum data and tiny fitted models.

The model is the true pendulum equations declared as a prior (physics, nothing to train, two
optimizer steps of fitting): the tests check the planners' and runner's behaviour, not a
model's accuracy (benchmarks/bench_planner.py times them).
"""

from __future__ import annotations

import warnings

import pytest
import torch

from hybridwm.models import WorldModel
from hybridwm.physics import declare
from hybridwm.systems import simulate
from hybridwm.training import TrainConfig

torch.set_num_threads(1)


def pendulum_prior():
    """The shipped pendulum's equations with its default constants, as a declared prior."""
    return declare(
        ["d(theta) = omega", "d(omega) = -a*sin(theta) - c*omega + b*torque"],
        {"a": 14.715, "c": 0.15, "b": 3.0},
        action_names=["torque"],
        fixed=["a", "c", "b"],
    )


@pytest.fixture(scope="session")
def prior():
    """:func:`pendulum_prior` as a fixture."""
    return pendulum_prior()


@pytest.fixture(scope="session")
def pendulum_data():
    """Four 1 s pendulum episodes at the task's 0.05 s control period."""
    return simulate(
        system="pendulum", scenario="train", n_trajectories=4, duration=1.0, dt=0.05, seed=0
    )


def _fit(model: WorldModel, data) -> WorldModel:
    config = TrainConfig(steps=2, horizon=5, batch_size=8, progress=False, patience=None)
    with warnings.catch_warnings():  # two steps may well not improve on the start
        warnings.filterwarnings("ignore", "Training ran", UserWarning)
        return model.fit(data, config)


@pytest.fixture(scope="session")
def physics_model(pendulum_data) -> WorldModel:
    """The exact pendulum equations as a physics WorldModel (nothing to train)."""
    return _fit(WorldModel.physics(pendulum_prior(), trainable=False), pendulum_data)
