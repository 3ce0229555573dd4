"""The ``simulate`` step: system + scenario + seed → TrajectorySet of ground-truth trajectories."""

from __future__ import annotations

import math
from typing import Annotated, Any

import numpy as np
from pydantic import AfterValidator, Field, model_validator

from hybridwm.config import Config, Integer, PositiveFloat
from hybridwm.data import TrajectorySet
from hybridwm.errors import ConfigError
from hybridwm.systems.catalogue import SYSTEMS
from hybridwm.systems.scenario import Scenario, get_scenario

__all__ = ["SimulateConfig", "simulate"]


class SimulateConfig(Config):
    """Settings of :func:`simulate` (one field per ``hybridwm simulate`` flag).

    Args:
        system: System name (see :func:`hybridwm.systems.list_systems`).
        scenario: Scenario name of that system (``train``, ``id``, ``ood-state``, ...).
        n_trajectories: Number of trajectories (>= 1); None → the scenario's default.
        duration: Simulated seconds per trajectory (>= ``dt``); None → the scenario's default.
            The last sample is at the largest multiple of ``dt`` not above it.
        dt: Control and sample period in seconds, a positive multiple of the model timestep;
            None → the scenario's default.
        seed: Seed of initial states and actions (>= 0; same seed → identical arrays).
        params: Parameter overrides applied on top of the scenario's parameters.
        progress: Show a progress bar for big batches.
        nthread: Rollout threads (>= 1); None → the CPUs available.
    """

    system: Annotated[str, AfterValidator(SYSTEMS.check)] = "pendulum"
    scenario: str = "train"
    n_trajectories: Integer | None = Field(default=None, ge=1)
    duration: PositiveFloat | None = None
    dt: float | None = Field(default=None, strict=True)  # checked by System.substeps
    seed: Integer = Field(default=0, ge=0)
    params: dict[str, float] = Field(default_factory=dict)
    progress: bool = False
    nthread: Integer | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _consistent(self) -> SimulateConfig:
        self.grid(get_scenario(self.system, self.scenario))
        SYSTEMS[self.system].check_parameters(self.params, argument="params")
        return self

    def grid(self, scenario: Scenario) -> tuple[float, int]:
        """``(dt, n_steps)`` from ``dt`` and ``duration``, or else the scenario's, checked.

        Raises:
            ConfigError: ``dt`` is not a positive multiple of the system's timestep, or
                ``duration < dt``.
        """
        dt = float(self.dt if self.dt is not None else scenario.dt)
        duration = float(self.duration if self.duration is not None else scenario.duration)
        SYSTEMS[self.system].substeps(dt)
        if duration < dt:
            raise ConfigError(
                f"`duration` of simulate must be >= `dt` ({dt}) to give at least one step. Got "
                f"{duration!r} instead."
            )
        return dt, math.floor(duration / dt + 1e-9)


def simulate(config: SimulateConfig | None = None, /, **kwargs: Any) -> TrajectorySet:
    """Simulate ground-truth trajectories of a system under a scenario.

    Call it with a config or with keywords (or both: keywords replace config fields)::

        simulate(SimulateConfig(system="cartpole", scenario="ood-state", seed=1))
        simulate(system="cartpole", scenario="train", n_trajectories=64, duration=5.0,
                 dt=0.01, seed=0, params={"pole_mass": 0.2}, progress=False)

    Returns:
        ``n_trajectories`` trajectories on the grid ``t = dt*arange(T+1)`` with
        ``T = floor(duration/dt)``; each ``meta`` holds ``system``, ``parameters``,
        ``scenario``, ``seed``, ``policy``, ``policy_kwargs``, ``dt`` and ``index``.

    Raises:
        UnknownNameError: unknown system, scenario, parameter or policy (valid names listed).
        ConfigError: invalid numbers (``n_trajectories <= 0``, ``dt <= 0``,
            ``duration < dt``, ``dt`` not a multiple of the timestep, negative mass, ...).
        SimulationError: a simulation diverged.
    """
    if config is not None and not isinstance(config, SimulateConfig):
        raise ConfigError(
            f"`config` of simulate must be a SimulateConfig. Got {type(config).__name__}."
        )
    cfg = SimulateConfig(**kwargs) if config is None else config.replace(**kwargs)
    scenario = get_scenario(cfg.system, cfg.scenario)
    base = SYSTEMS[cfg.system]
    values = {
        **scenario.system_parameters(base),
        **base.check_parameters(cfg.params, argument="params"),
    }
    system = base.with_parameters(**values)
    n = cfg.n_trajectories if cfg.n_trajectories is not None else scenario.n_trajectories
    dt, n_steps = cfg.grid(scenario)

    rng_x0, rng_u = (
        np.random.default_rng(s)
        for s in np.random.SeedSequence([cfg.seed, scenario.seed_offset]).spawn(2)
    )
    x0 = scenario.sample_initial_states(system, n, rng_x0)
    policy = scenario.make_policy()
    actions = policy.sample(n, n_steps, dt, system.action_bounds, rng_u)
    meta = {
        "scenario": scenario.name,
        "seed": cfg.seed,
        "policy": scenario.policy,
        "policy_kwargs": dict(scenario.policy_kwargs),
    }
    return system.simulate(x0, actions, dt, meta=meta, nthread=cfg.nthread, progress=cfg.progress)
