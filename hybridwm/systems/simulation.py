"""The ``simulate`` step: system + scenario + seed → TrajectorySet of ground-truth trajectories."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hybridwm.config import Config
from hybridwm.data import TrajectorySet
from hybridwm.errors import ConfigError
from hybridwm.systems.catalogue import SYSTEMS
from hybridwm.systems.scenario import get_scenario

__all__ = ["SimulateConfig", "simulate"]


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


@dataclass
class SimulateConfig(Config):
    """Settings of :func:`simulate` (one field per ``hybridwm simulate`` flag).

    Args:
        system: System name (see :func:`hybridwm.systems.list_systems`).
        scenario: Scenario name of that system (``train``, ``id``, ``ood-state``, ...).
        n_trajectories: Number of trajectories; None → the scenario's default.
        duration: Simulated seconds per trajectory; None → the scenario's default. The last
            sample is at the largest multiple of ``dt`` not above it.
        dt: Control and sample period in seconds, a multiple of the model timestep; None → the
            scenario's default.
        seed: Seed of initial states and actions (same seed → identical arrays).
        params: Parameter overrides applied on top of the scenario's parameters.
        progress: Show a progress bar for big batches.
        nthread: Rollout threads; None → the CPUs available.
    """

    system: str = "pendulum"
    scenario: str = "train"
    n_trajectories: int | None = None
    duration: float | None = None
    dt: float | None = None
    seed: int = 0
    params: dict[str, float] = field(default_factory=dict)
    progress: bool = False
    nthread: int | None = None

    def __post_init__(self) -> None:
        sys_ = SYSTEMS[self.system]
        get_scenario(self.system, self.scenario)
        if self.n_trajectories is not None and (
            not _is_int(self.n_trajectories) or self.n_trajectories < 1
        ):
            raise ConfigError(
                f"`n_trajectories` of simulate must be an integer >= 1. Got "
                f"{self.n_trajectories!r} instead."
            )
        for name in ("dt", "duration"):
            v = getattr(self, name)
            if v is not None and not (
                isinstance(v, (int, float))
                and not isinstance(v, bool)
                and math.isfinite(v)
                and v > 0
            ):
                raise ConfigError(f"`{name}` of simulate must be > 0. Got {v!r} instead.")
        if self.dt is not None and self.duration is not None and self.duration < self.dt:
            raise ConfigError(
                f"`duration` of simulate must be >= `dt` ({self.dt}) to give at least one step. "
                f"Got {self.duration!r} instead."
            )
        if not _is_int(self.seed) or self.seed < 0:
            raise ConfigError(
                f"`seed` of simulate must be an integer >= 0. Got {self.seed!r} instead."
            )
        if self.nthread is not None and (not _is_int(self.nthread) or self.nthread < 1):
            raise ConfigError(
                f"`nthread` of simulate must be an integer >= 1. Got {self.nthread!r} instead."
            )
        sys_.check_parameters(self.params, argument="params")
        if self.dt is not None:
            sys_.substeps(self.dt)


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
    if config is None:
        cfg = SimulateConfig.from_dict(kwargs)
    elif kwargs:
        unknown = sorted(set(kwargs) - set(SimulateConfig.field_names()))
        if unknown:
            raise ConfigError(
                f"Unknown simulate argument(s) {unknown}. Valid: {SimulateConfig.field_names()}."
            )
        cfg = config.replace(**kwargs)
    else:
        cfg = config
    if not isinstance(cfg, SimulateConfig):
        raise ConfigError(
            f"`config` of simulate must be a SimulateConfig. Got {type(cfg).__name__}."
        )

    scenario = get_scenario(cfg.system, cfg.scenario)
    base = SYSTEMS[cfg.system]
    values = {
        **scenario.system_parameters(base),
        **base.check_parameters(cfg.params, argument="params"),
    }
    system = base.with_parameters(**values)
    n = cfg.n_trajectories if cfg.n_trajectories is not None else scenario.n_trajectories
    dt = float(cfg.dt if cfg.dt is not None else scenario.dt)
    duration = float(cfg.duration if cfg.duration is not None else scenario.duration)
    system.substeps(dt)
    if duration < dt:
        raise ConfigError(
            f"`duration` of simulate must be >= `dt` ({dt}) to give at least one step. Got "
            f"{duration!r} instead."
        )
    n_steps = math.floor(duration / dt + 1e-9)

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
