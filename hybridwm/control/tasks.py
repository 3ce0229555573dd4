"""Control tasks as data: what to reach on which system, the reward, termination and success.

A :class:`Task` names a shipped system (:mod:`hybridwm.systems`), its control period, episode
length and initial state, and one of three objectives over the system's states:

==============  ===================================  ==========================================
objective       goal error (what success bounds)     shaped cost per step (reward = -cost)
==============  ===================================  ==========================================
``upright``     ``|wrap(angle - pi)|`` (rad)         ``1 + cos(angle)`` (0 upright, 2 hanging)
``tip-height``  ``L - h``: tip height ``h`` below    ``(L - h) / L`` over ``[0, 2]``
                its highest ``L = l1 + l2`` (m)
``reach``       distance tip to ``target`` (m)       ``distance / L``
==============  ===================================  ==========================================

plus ``position_weight * position**2`` (a cart kept near the middle), ``velocity_weight *
sum(velocities**2)`` and ``action_weight * sum((u / u_max)**2)``; a state beyond
``position_limit`` (a cart off the rail) terminates the episode and costs
``termination_penalty``. Success is ``"hold"`` (goal error within ``tolerance`` at every
sample of the last ``success_seconds``) or ``"reach"`` (within ``tolerance`` at any sample).

The shipped tasks are data: ``hybridwm/control/tasks.toml``, one table per task.

All functions are batched torch over any leading shape: states ``[..., n_x]`` in the system's
state order (``qpos`` then ``qvel``; angles as in :mod:`hybridwm.systems.catalogue`), actions
``[..., n_u]``.
"""

from __future__ import annotations

import math
import sys
from importlib import resources
from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field, model_validator

from hybridwm.config import Config, PositiveFloat
from hybridwm.errors import ConfigError, ShapeError
from hybridwm.registry import Registry
from hybridwm.systems import System, get_system

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["TASKS", "Task", "get_task", "list_tasks"]


def _weight() -> float:
    """A cost weight field: a finite number >= 0, default 0."""
    return Field(0.0, ge=0, allow_inf_nan=False)


class Task(Config):
    """A control task on a shipped system (see the module docstring for the objectives).

    Attributes:
        name: the task's name.
        system: a shipped system (:func:`hybridwm.systems.list_systems`).
        objective: ``"upright"``, ``"tip-height"`` or ``"reach"``.
        dt: control period in seconds (a multiple of the system's MuJoCo step).
        seconds: episode length in seconds.
        horizon_seconds: the planning horizon a planner uses by default.
        x0: the initial state, in the system's state order.
        x0_noise: std of the normal perturbation of ``x0`` per episode.
        angle: the state the upright objective turns upright.
        position: a state kept near 0 (cost ``position_weight``) and bounded.
        position_limit: ``|position|`` beyond this terminates the episode.
        target: ``(x, y)`` of the reach objective, m.
        position_weight: weight of ``position**2`` in the cost.
        velocity_weight: weight of the summed squared velocities.
        action_weight: weight of the summed squared actions, as fractions of their bounds.
        termination_penalty: cost of every terminated state.
        success: ``"hold"`` (within tolerance for the last ``success_seconds``) or ``"reach"``.
        tolerance: the largest goal error that counts as at the goal.
        success_seconds: the window of the hold rule, s.
        parameters: the system's parameter values for this task, where they differ from its
            defaults (e.g. a rig's motor limit); every episode, rollout and oracle of the task
            starts from them.
    """

    name: str
    system: str
    objective: Literal["upright", "tip-height", "reach"]
    dt: PositiveFloat
    seconds: PositiveFloat
    horizon_seconds: PositiveFloat
    x0: list[float]
    x0_noise: float = Field(0.0, ge=0, allow_inf_nan=False)
    angle: str | None = None
    position: str | None = None
    position_limit: float | None = Field(None, gt=0, allow_inf_nan=False)
    target: tuple[float, float] | None = None
    position_weight: float = _weight()
    velocity_weight: float = _weight()
    action_weight: float = _weight()
    termination_penalty: float = Field(100.0, ge=0, allow_inf_nan=False)
    success: Literal["hold", "reach"] = "hold"
    tolerance: PositiveFloat
    success_seconds: PositiveFloat = 2.0
    parameters: dict[str, float] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check_names(self) -> Task:
        system = get_system(self.system)
        system.check_parameters(self.parameters, argument=f"parameters of task {self.name!r}")
        if len(self.x0) != system.n_x:
            raise ConfigError(
                f"`x0` of task {self.name!r} must hold {system.n_x} values, one per "
                f"{self.system} state {list(system.state_names)}. Got {len(self.x0)}."
            )
        for field in ("angle", "position"):
            value = getattr(self, field)
            if value is not None and value not in system.state_names:
                raise ConfigError(
                    f"`{field}` of task {self.name!r} must be a {self.system} state "
                    f"{list(system.state_names)}. Got {value!r}."
                )
        needs = {"upright": "angle", "reach": "target"}.get(self.objective)
        if needs and getattr(self, needs) is None:
            raise ConfigError(
                f"Task {self.name!r} with objective {self.objective!r} needs `{needs}`; set it."
            )
        if self.position_limit is not None and self.position is None:
            raise ConfigError(
                f"`position_limit` of task {self.name!r} needs `position` (the state it bounds)."
            )
        system.substeps(self.dt, argument="dt")
        return self

    # ------------------------------------------------------------------ helpers
    def get_system(self) -> System:
        """The task's ground-truth system, with the task's :attr:`parameters`."""
        system = get_system(self.system)
        return system.with_parameters(**self.parameters) if self.parameters else system

    @property
    def steps(self) -> int:
        """Control steps in an episode of :attr:`seconds`."""
        return max(1, round(self.seconds / self.dt))

    def _index(self, name: str) -> int:
        # names do not depend on parameter values: the registry's system, not a copy with them
        return get_system(self.system).state_names.index(name)

    def _check_states(self, states: torch.Tensor, what: str = "states") -> None:
        names = get_system(self.system).state_names
        if not isinstance(states, torch.Tensor) or states.shape[-1:] != (len(names),):
            shape = tuple(states.shape) if hasattr(states, "shape") else type(states).__name__
            raise ShapeError(
                f"`{what}` of task {self.name!r} must be a torch tensor [..., {len(names)}] of "
                f"{self.system} states {list(names)}. Got {shape}."
            )

    def _tip(self, states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float]:
        """Tip of a two-link chain: ``(horizontal, vertical)`` in a vertical plane (angle 0
        hangs down) or ``(x, y)`` in a horizontal one, and the chain's length ``l1 + l2``."""
        p = self.get_system().parameters
        l1, l2 = p["length1"], p["length2"]
        a1, a2 = states[..., 0], states[..., 0] + states[..., 1]
        if self.objective == "tip-height":
            across = l1 * torch.sin(a1) + l2 * torch.sin(a2)
            return across, -l1 * torch.cos(a1) - l2 * torch.cos(a2), l1 + l2
        along = l1 * torch.cos(a1) + l2 * torch.cos(a2)
        return along, l1 * torch.sin(a1) + l2 * torch.sin(a2), l1 + l2

    # ------------------------------------------------------------------ the task's functions
    def goal_error(self, states: torch.Tensor) -> torch.Tensor:
        """Distance from the goal, ``[..., n_x] -> [...]`` (rad for upright, m otherwise)."""
        self._check_states(states)
        if self.objective == "upright":
            err = states[..., self._index(self.angle or "")] - math.pi
            return torch.remainder(err + math.pi, 2 * math.pi).sub(math.pi).abs()
        x, y, length = self._tip(states)
        if self.objective == "tip-height":
            return length - y
        tx, ty = self.target or (0.0, 0.0)
        return torch.hypot(x - tx, y - ty)

    def final_goal_error(self, states: Any) -> float:
        """:meth:`goal_error` of the last of an episode's (T, n_x) states (array or tensor)."""
        return float(self.goal_error(torch.as_tensor(states[-1])))

    def terminated(self, states: torch.Tensor) -> torch.Tensor:
        """``[..., n_x] -> [...]`` bool: beyond ``position_limit`` or not finite."""
        self._check_states(states)
        done = ~torch.isfinite(states).all(-1)
        if self.position_limit is not None and self.position is not None:
            done = done | (states[..., self._index(self.position)].abs() > self.position_limit)
        return done

    def reward(self, states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Reward of reaching ``states`` under ``actions``: ``[..., n_x], [..., n_u] -> [...]``.

        Non-finite states get ``-inf``; terminated ones lose ``termination_penalty``.
        """
        self._check_states(states)
        system = self.get_system()
        if not isinstance(actions, torch.Tensor) or actions.shape[-1:] != (system.n_u,):
            raise ShapeError(
                f"`actions` of task {self.name!r} must be a torch tensor [..., {system.n_u}] of "
                f"{self.system} actions {list(system.action_names)}. Got "
                f"{tuple(getattr(actions, 'shape', ()))}."
            )
        cost = self._goal_cost(states)
        if self.position is not None and self.position_weight:
            cost = cost + self.position_weight * states[..., self._index(self.position)] ** 2
        if self.velocity_weight:
            half = system.n_x // 2
            cost = cost + self.velocity_weight * (states[..., half:] ** 2).sum(-1)
        if self.action_weight:
            scale = torch.as_tensor(
                np.abs(system.action_bounds).max(1), dtype=actions.dtype, device=actions.device
            )
            cost = cost + self.action_weight * ((actions / scale) ** 2).sum(-1)
        reward = -cost - self.termination_penalty * self.terminated(states).to(cost.dtype)
        return torch.where(torch.isfinite(reward), reward, torch.full_like(reward, -math.inf))

    def _goal_cost(self, states: torch.Tensor) -> torch.Tensor:
        if self.objective == "upright":
            return 1.0 + torch.cos(states[..., self._index(self.angle or "")])
        length = self._tip(states)[2]
        return self.goal_error(states) / length

    def succeeded(self, states: torch.Tensor) -> bool:
        """Whether an episode's states ``(T+1, n_x)`` (one per control step) meet the rule."""
        self._check_states(states)
        if states.ndim != 2:
            raise ShapeError(
                f"`states` of Task.succeeded must be one episode (T+1, n_x). Got "
                f"{tuple(states.shape)}."
            )
        if bool(self.terminated(states).any()):
            return False
        close = self.goal_error(states) <= self.tolerance
        if self.success == "reach":
            return bool(close.any())
        window = max(1, round(self.success_seconds / self.dt)) + 1
        return states.shape[0] >= window and bool(close[-window:].all())

    def initial_state(self, rng: np.random.Generator) -> np.ndarray:
        """``(n_x,)`` initial state: ``x0`` plus normal noise of std ``x0_noise``."""
        x0 = np.asarray(self.x0, dtype=np.float64)
        return x0 + self.x0_noise * rng.standard_normal(x0.shape)


TASKS: Registry[Task] = Registry("task", "`task`")
for _name, _table in tomllib.loads(
    resources.files("hybridwm.control").joinpath("tasks.toml").read_text()
).items():
    TASKS.register(_name, Task(name=_name, **_table))


def get_task(name: str) -> Task:
    """The shipped task registered as ``name``; UnknownNameError lists the valid names."""
    return TASKS[name]


def list_tasks() -> list[str]:
    """Names of the shipped tasks, sorted."""
    return TASKS.names()
