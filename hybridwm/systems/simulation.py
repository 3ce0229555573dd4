"""The ``simulate`` step: system + scenario + seed → TrajectorySet of ground-truth trajectories."""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import AfterValidator, Field, field_validator, model_validator

from hybridwm.config import Config, Integer, PositiveFloat
from hybridwm.data import TrajectorySet
from hybridwm.errors import ConfigError
from hybridwm.registry import Registry
from hybridwm.systems.catalogue import SYSTEMS
from hybridwm.systems.policies import POLICIES
from hybridwm.systems.scenario import Scenario, get_scenario
from hybridwm.systems.system import System

__all__ = ["MJCF_SCENARIOS", "SimulateConfig", "load_mjcf", "mjcf_scenario", "simulate"]

_DEFAULT_SYSTEM = "pendulum"
#: the scenarios of an MJCF model (see :func:`mjcf_scenario`), in seed-offset order
MJCF_SCENARIOS = ("train", "id")
#: sample period the scenarios of an MJCF model aim at (rounded to a multiple of its timestep)
_MJCF_DT = 0.01
#: half-width of the initial-state box of an MJCF model's scenarios (rad or m, rad/s or m/s)
_MJCF_SPREAD = 0.1


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
        mjcf: Path of the user's own MuJoCo model (MJCF XML) to simulate instead of a shipped
            ``system``, which then stays at its default (see :meth:`System.from_mjcf`); its
            scenarios are ``train`` and ``id`` (see :func:`mjcf_scenario`).
        policy: Action policy replacing the scenario's (``random``, ``sines``, ``chirp``,
            ``ou``, ``zero``), with its default settings; None → the scenario's.
    """

    system: Annotated[str, AfterValidator(SYSTEMS.check)] = _DEFAULT_SYSTEM
    scenario: str = "train"
    n_trajectories: Integer | None = Field(default=None, ge=1)
    duration: PositiveFloat | None = None
    dt: float | None = Field(default=None, strict=True)  # checked by System.substeps
    seed: Integer = Field(default=0, ge=0)
    params: dict[str, float] = Field(default_factory=dict)
    progress: bool = False
    nthread: Integer | None = Field(default=None, ge=1)
    mjcf: str | None = None
    policy: str | None = None

    @field_validator("system", mode="before")
    @classmethod
    def _not_a_file(cls, value: Any) -> Any:
        if isinstance(value, str) and value.lower().endswith((".xml", ".mjcf")):
            raise ConfigError(
                f"`system` names a shipped system ({', '.join(SYSTEMS.names())}); {value!r} "
                f"looks like a model file. Simulate your own MuJoCo model with `mjcf` "
                f"(`hybridwm simulate --mjcf {value}`)."
            )
        return value

    @field_validator("policy")
    @classmethod
    def _known_policy(cls, value: str | None) -> str | None:
        return None if value is None else POLICIES.check(value)

    @model_validator(mode="after")
    def _consistent(self) -> SimulateConfig:
        if self.mjcf is not None and self.system != _DEFAULT_SYSTEM:
            raise ConfigError(
                f"Give `system` ({self.system!r}, a shipped system) or `mjcf` ({self.mjcf!r}, "
                f"your own model), not both."
            )
        self.grid(self.get_scenario())
        self.get_system().check_parameters(self.params, argument="params")
        return self

    def get_system(self) -> System:
        """The system to simulate: the shipped ``system`` or the model of ``mjcf``."""
        return SYSTEMS[self.system] if self.mjcf is None else load_mjcf(self.mjcf)

    def get_scenario(self) -> Scenario:
        """The ``scenario`` of the system, with ``policy`` replacing its own if given."""
        if self.mjcf is None:
            scenario = get_scenario(self.system, self.scenario)
        else:
            scenario = mjcf_scenario(self.get_system(), self.scenario)
        if self.policy is None:
            return scenario
        return scenario.replace(policy=self.policy, policy_kwargs={})

    def grid(self, scenario: Scenario) -> tuple[float, int]:
        """``(dt, n_steps)`` from ``dt`` and ``duration``, or else the scenario's, checked.

        Raises:
            ConfigError: ``dt`` is not a positive multiple of the system's timestep, or
                ``duration < dt``.
        """
        dt = float(self.dt if self.dt is not None else scenario.dt)
        duration = float(self.duration if self.duration is not None else scenario.duration)
        self.get_system().substeps(dt)
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
    scenario = cfg.get_scenario()
    base = cfg.get_system()
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
        **({"mjcf": str(base.asset)} if cfg.mjcf is not None else {}),
    }
    return system.simulate(x0, actions, dt, meta=meta, nthread=cfg.nthread, progress=cfg.progress)


# ---------------------------------------------------------------------------- MJCF models
def load_mjcf(path: str | Path) -> System:
    """:meth:`System.from_mjcf` of ``path``, loaded once while the file is unchanged.

    Raises:
        FormatError: see :meth:`System.from_mjcf`.
    """
    file = Path(path).expanduser().resolve()
    try:
        stat = file.stat()
        key = (stat.st_mtime_ns, stat.st_size)
    except OSError:
        key = (0, 0)  # System.from_mjcf says what is wrong with the path
    return _load_mjcf(file, key)


@lru_cache(maxsize=8)
def _load_mjcf(file: Path, key: tuple[int, int]) -> System:
    return System.from_mjcf(file)


def mjcf_scenario(system: System, name: str) -> Scenario:
    """A scenario of an MJCF model, which has no scenario file.

    ``train``: every position and velocity starts uniform within ±0.1 of zero (rad or m, per
    second for the velocities; a limited joint within the middle half of its range), random
    piecewise-constant controls at half their bounds (held 0.05 to 0.5 s), 16 trajectories
    of 5 s sampled every ``dt`` (the multiple of the model's timestep nearest 0.01 s). ``id``:
    the same distribution, other draws.

    Raises:
        UnknownNameError: for another name (the valid names are listed).
    """
    registry: Registry[int] = Registry(f"scenario of {system.name}", "`scenario`")
    for i, known in enumerate(MJCF_SCENARIOS):
        registry.register(known, i)
    offset = registry[name]
    model = system.model()
    spread = np.array([[-_MJCF_SPREAD, _MJCF_SPREAD]] * system.n_x)
    for j in np.flatnonzero(model.jnt_limited.astype(bool)):
        low, high = model.jnt_range[j]
        quarter = (high - low) / 4
        box = [max(-_MJCF_SPREAD, low + quarter), min(_MJCF_SPREAD, high - quarter)]
        spread[j] = box if box[0] <= box[1] else [low + quarter, high - quarter]
    ts = float(model.opt.timestep)
    return Scenario(
        name=name,
        description=f"MJCF model {system.name}: states near zero, random held controls.",
        initial_state={
            s: (float(a), float(b)) for s, (a, b) in zip(system.state_names, spread, strict=True)
        },
        policy="random",
        policy_kwargs={"amplitude": 0.5, "hold_min": 0.05, "hold_max": 0.5},
        duration=5.0,
        dt=ts * max(1, round(_MJCF_DT / ts)),
        n_trajectories=16,
        seed_offset=offset,
    )
