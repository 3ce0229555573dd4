"""The model-based learning loop, counted in seconds of real interaction.

Start from ``random_seconds`` of random actions on the real (MuJoCo) system; then, each round:
fit a fresh model of the kind asked for on ALL data so far; test it with one evaluation episode
of the task (planner over the model, on the real system; this episode is scored, never added to
the data); collect ``collect_seconds`` more with the planner over the model, from the task's
initial state, and add them. ``interaction_seconds`` of a round is the real data its model was
fitted on; the first round whose evaluation episode succeeds gives the interaction needed.

Models: ``learned`` (an MLP field), ``physics`` and ``hybrid`` over a ``prior``: a declared
:class:`~hybridwm.physics.PhysicsModel` with free parameters (the known structure with unknown
constants), trained on the data together with the residual of the hybrid.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field

from hybridwm.config import Config, Integer, PositiveFloat
from hybridwm.control.episode import run_episode
from hybridwm.control.planners import PlannerConfig, make_planner
from hybridwm.control.rollouts import make_rollout
from hybridwm.control.tasks import Task
from hybridwm.data import TrajectorySet
from hybridwm.errors import ConfigError
from hybridwm.models import WorldModel
from hybridwm.training import TrainConfig

__all__ = [
    "LearningConfig",
    "LearningRound",
    "fit_round_model",
    "learn_to_control",
    "random_episode",
]


class LearningConfig(Config):
    """Settings of the model-based learning loop.

    Attributes:
        kind: the model kind: ``"learned"``, ``"physics"`` or ``"hybrid"``.
        random_seconds: seconds of random actions that start the data.
        collect_seconds: seconds collected with the planner after each round.
        rounds: fit-evaluate-collect rounds.
        fit_steps: optimizer steps of each fit (from scratch on all data).
        horizon: training window length in samples.
        hidden: widths of the learned field or residual MLP.
        seed: seeds the data, the fits and the planner.
        until_success: stop after the first round whose evaluation episode succeeds (the
            interaction it needed is then the last round's); otherwise run every round.
    """

    kind: Literal["learned", "physics", "hybrid"]
    random_seconds: PositiveFloat = 2.0
    collect_seconds: PositiveFloat = 1.0
    rounds: Integer = Field(3, ge=1)
    fit_steps: Integer = Field(300, ge=1)
    horizon: Integer = Field(10, ge=2)
    hidden: tuple[int, ...] = (32, 32)
    seed: Integer = 0
    until_success: bool = False


@dataclass
class LearningRound:
    """One round: the data it was fitted on and how its evaluation episode went."""

    round: int
    interaction_seconds: float
    success: bool
    total_return: float
    final_goal_error: float
    fit_seconds: float
    extra: dict[str, Any] = field(default_factory=dict)


def random_episode(task: Task, seconds: float, rng: np.random.Generator) -> TrajectorySet:
    """``seconds`` of uniformly random actions, one per control period, on the real system
    from the task's initial state (the first data of the loop)."""
    system = task.get_system()
    steps = max(1, round(seconds / task.dt))
    bounds = system.action_bounds
    actions = rng.uniform(bounds[:, 0], bounds[:, 1], size=(steps, system.n_u))
    return system.simulate(task.initial_state(rng), actions, task.dt, meta={"policy": "random"})


def fit_round_model(cfg: LearningConfig, prior: Any, data: TrajectorySet) -> WorldModel:
    """The model one round fits: a fresh ``cfg.kind`` model (over ``prior`` unless learned) on
    ``data``, ``cfg.fit_steps`` steps on ``cfg.horizon``-sample windows, no validation split."""
    physics = None if cfg.kind == "learned" else prior
    hidden = None if cfg.kind == "physics" else cfg.hidden
    model = WorldModel.from_kind(cfg.kind, physics=physics, hidden=hidden)
    horizon = min(cfg.horizon, int(min(data.lengths)) - 1)
    train = TrainConfig(
        steps=cfg.fit_steps,
        horizon=horizon,
        batch_size=32,
        seed=cfg.seed,
        progress=False,
        validation_fraction=0.0,
        patience=None,
    )
    with warnings.catch_warnings():  # short fits on little data warn; the loop reports results
        warnings.simplefilter("ignore", UserWarning)
        return model.fit(data, train)


def learn_to_control(
    task: Task,
    config: LearningConfig,
    planner: PlannerConfig,
    *,
    prior: Any = None,
    on_round: Callable[[LearningRound], None] | None = None,
) -> list[LearningRound]:
    """Run the loop (see the module docstring); one :class:`LearningRound` per round.

    ``on_round`` is called with each round as soon as it is scored (progress).

    Raises:
        ConfigError: a physics or hybrid kind without ``prior``.
    """
    if config.kind != "learned" and prior is None:
        raise ConfigError(
            f"`prior` is needed for kind {config.kind!r}: a declared PhysicsModel of the "
            f"{task.system} (hybridwm.physics.declare) whose free parameters the data fit."
        )
    rng = np.random.default_rng(config.seed)
    data = random_episode(task, config.random_seconds, rng)
    seconds, rounds = config.random_seconds, []
    plan_cfg = planner.model_copy(update={"seed": config.seed})
    for r in range(config.rounds):
        start = time.perf_counter()
        model = fit_round_model(config, prior, data)
        fit_seconds = time.perf_counter() - start
        run = make_planner(make_rollout(model, task), task, plan_cfg)
        test = run_episode(task, run, seed=config.seed)
        error = float(task.goal_error(torch.as_tensor(test.x[-1])))
        rounds.append(
            LearningRound(r, seconds, test.success, test.total_return, error, fit_seconds)
        )
        if on_round is not None:
            on_round(rounds[-1])
        if r == config.rounds - 1 or (config.until_success and test.success):
            break
        more = run_episode(task, run, seconds=config.collect_seconds, seed=config.seed + 1000 + r)
        traj = more.trajectory(task.get_system().state_names, task.get_system().action_names)
        data = TrajectorySet([*data, traj])
        seconds += float(more.t[-1])
    return rounds
