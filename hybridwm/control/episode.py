"""Closed loop: a planner acting on the ground-truth MuJoCo system at the control rate.

Each control period the planner sees the measured state ``(qpos, qvel)`` and returns an action,
which MuJoCo holds for ``dt`` (``dt / timestep`` steps of one ``MjData``, so a rig's actuator
state carries over between periods as in a real motor). The episode stops at ``seconds`` or when
the task terminates (a cart off its rail, a non-finite state).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import mujoco
import numpy as np
import torch

from hybridwm.control.tasks import Task
from hybridwm.data import Trajectory
from hybridwm.errors import ConfigError

__all__ = ["Controller", "Episode", "run_episode"]


class Controller(Protocol):
    """What acts in an episode: a planner (MPPI, iCEM) or a trained policy
    (:class:`~hybridwm.control.dream.DreamController`)."""

    name: str
    timings: list[float]

    def reset(self) -> None:
        """Start a new episode."""

    def act(self, state: np.ndarray) -> np.ndarray:
        """The action (n_u,) for the measured ``state`` (n_x,)."""


@dataclass
class Episode:
    """An executed episode.

    Attributes:
        task: the task's name. model: the controller's name (a planner: the kind it predicted
            with or "oracle"; a dream policy: "dream-<kind>").
        t: (T+1,) times. x: (T+1, n_x) measured states. u: (T, n_u) applied actions.
        rewards: (T,) reward of each step (``task.reward(x[k+1], u[k])``).
        plan_seconds: (T,) wall-clock seconds of each planner call.
        success: the task's success rule held. terminated: the task ended it early.
        parameters: the system's parameter values. seed: the episode's seed.
    """

    task: str
    model: str
    t: np.ndarray
    x: np.ndarray
    u: np.ndarray
    rewards: np.ndarray
    plan_seconds: np.ndarray
    success: bool
    terminated: bool
    parameters: dict[str, float] = field(default_factory=dict)
    seed: int = 0

    @property
    def total_return(self) -> float:
        """Sum of the step rewards."""
        return float(self.rewards.sum())

    def trajectory(self, state_names: tuple[str, ...], action_names: tuple[str, ...]) -> Trajectory:
        """The episode as a :class:`Trajectory` (last action repeated, as ``simulate`` does)."""
        u = np.concatenate((self.u, self.u[-1:]), 0) if len(self.u) else np.zeros((1, 0))
        meta = {"task": self.task, "model": self.model, "seed": self.seed}
        meta["parameters"] = dict(self.parameters)
        return Trajectory(self.t.copy(), self.x.copy(), u, state_names, action_names, meta)


def run_episode(
    task: Task,
    planner: Controller,
    *,
    seconds: float | None = None,
    seed: int = 0,
    parameters: Mapping[str, Any] | None = None,
) -> Episode:
    """Run ``planner`` in closed loop on ``task``'s MuJoCo system.

    Args:
        task: the task (system, control period, initial state, reward and success rule).
        planner: the planner (reset here, so its noise is reseeded), or any
            :class:`Controller`.
        seconds: episode length (default: the task's ``seconds``).
        seed: seeds the initial-state perturbation.
        parameters: overrides of the system's parameters (e.g. a heavier pole).

    Returns:
        The :class:`Episode`.

    Raises:
        ConfigError: ``seconds`` is not > 0; a parameter is invalid (``UnknownNameError`` for
            an unknown name).
    """
    if seconds is not None and not (isinstance(seconds, (int, float)) and seconds > 0):
        raise ConfigError(f"`seconds` of run_episode must be a number > 0. Got {seconds!r}.")
    system = task.get_system()
    values = system.parameters | system.check_parameters(parameters or {})
    model = system.model(values)
    data = mujoco.MjData(model)
    n_sub = system.substeps(task.dt)
    n_steps = max(1, round((seconds or task.seconds) / task.dt))
    x = np.zeros((n_steps + 1, system.n_x))
    u = np.zeros((n_steps, system.n_u))
    x[0] = task.initial_state(np.random.default_rng(seed))
    data.qpos[:], data.qvel[:] = x[0, : model.nq], x[0, model.nq :]
    planner.reset()
    done, k = False, 0
    while k < n_steps and not done:
        u[k] = np.clip(planner.act(x[k]), system.action_bounds[:, 0], system.action_bounds[:, 1])
        data.ctrl[:] = u[k]
        mujoco.mj_step(model, data, nstep=n_sub)
        x[k + 1] = np.concatenate((data.qpos, data.qvel))
        done = bool(task.terminated(torch.as_tensor(x[k + 1])))
        k += 1
    x, u = x[: k + 1], u[:k]
    xt = torch.as_tensor(x)
    rewards = task.reward(xt[1:], torch.as_tensor(u)).numpy()
    return Episode(
        task=task.name,
        model=planner.name,
        t=task.dt * np.arange(k + 1),
        x=x,
        u=u,
        rewards=rewards,
        plan_seconds=np.asarray(planner.timings[:k]),
        success=task.succeeded(xt) and not done,
        terminated=done,
        parameters=values,
        seed=seed,
    )
