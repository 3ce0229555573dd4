"""Scenarios: distributions of initial states, actions and parameters, stored as data.

Each system has a TOML file ``hybridwm/systems/scenarios/<system>.toml`` (its ``scenarios``
name: a variant such as ``pendulum-rig`` reads the file of the system it extends) with one table per
scenario (``[train]``, ``[id]``, ``[ood-state]``, ``[ood-action]``, ``[ood-params]``, ...). A
table may say ``extends = "train"`` to start from another scenario: keys it gives replace the
parent's keys whole (a table such as ``initial_state`` or ``policy_kwargs`` is replaced, not
merged), so a scenario reads as "train, except ...".
"""

from __future__ import annotations

import math
import sys
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
from pydantic import Field, model_validator

from hybridwm.config import Config, Integer, PositiveFloat
from hybridwm.errors import ConfigError, FormatError, UnknownNameError
from hybridwm.registry import Registry
from hybridwm.systems.catalogue import SYSTEMS
from hybridwm.systems.policies import Policy, make_policy
from hybridwm.systems.system import System

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["Scenario", "get_scenario", "list_scenarios", "register_scenario"]


class Scenario(Config):
    """A distribution of initial states, actions and physical parameters for one system.

    Args:
        name: Scenario name (``"train"``, ``"ood-state"``, ...).
        system: Name of the system it applies to (``""``: none; its names are then checked
            when it is registered or used).
        description: One line saying what is in or out of distribution.
        initial_state: ``{state: [low, high]}`` uniform box per state (finite, low <= high);
            missing states start at 0.
        symmetric: States whose sampled value gets a random sign (so a box ``[2.5, 3.1]`` on
            ``theta`` covers both sides of the upright position).
        policy: Name of the action policy (see :data:`hybridwm.systems.POLICIES`).
        policy_kwargs: Settings of the policy (``amplitude``, frequencies, hold times, ...).
        parameters: Absolute parameter values, e.g. ``{"pole_mass": 0.2}``.
        parameter_scales: Factors (finite, > 0) applied to the default parameters (before
            ``parameters``).
        duration: Default simulated time per trajectory in seconds (> 0, >= ``dt``).
        dt: Default control/sample period in seconds (> 0).
        n_trajectories: Default number of trajectories (>= 1).
        seed_offset: Mixed with the user's seed, so ``id`` differs from ``train`` at equal seeds
            (>= 0).
    """

    name: str = "custom"
    system: str = ""
    description: str = ""
    initial_state: dict[str, tuple[float, float]] = Field(default_factory=dict)
    symmetric: tuple[str, ...] = ()
    policy: str = "random"
    policy_kwargs: dict[str, Any] = Field(default_factory=dict)
    parameters: dict[str, float] = Field(default_factory=dict)
    parameter_scales: dict[str, PositiveFloat] = Field(default_factory=dict)
    duration: PositiveFloat = 5.0
    dt: PositiveFloat = 0.01
    n_trajectories: Integer = Field(default=64, ge=1)
    seed_offset: Integer = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        where = f"scenario {self.name!r}" + (f" of {self.system}" if self.system else "")
        for state, (lo, hi) in self.initial_state.items():
            if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
                raise ConfigError(
                    f"`initial_state.{state}` of {where} must be finite with low <= high. "
                    f"Got [{lo}, {hi}]."
                )
        if self.duration < self.dt:
            raise ConfigError(
                f"`duration` of {where} must be >= `dt` ({self.dt}). Got {self.duration}."
            )
        self.make_policy()  # unknown policy names/settings fail here, with the valid ones
        if self.system in SYSTEMS:
            self.check(SYSTEMS[self.system])
        return self

    # ------------------------------------------------------------------ use
    def make_policy(self) -> Policy:
        """The configured action policy."""
        return make_policy(self.policy, **self.policy_kwargs)

    def check(self, system: System) -> None:
        """Check the state and parameter names against ``system``.

        Raises:
            UnknownNameError: for a state or parameter the system does not have.
        """
        for label, names in (("initial_state", self.initial_state), ("symmetric", self.symmetric)):
            for s in names:
                if s not in system.state_names:
                    raise UnknownNameError(
                        f"Unknown state {s!r} in `{label}` of scenario {self.name!r}. Valid "
                        f"{system.name} states: {list(system.state_names)}."
                    )
        system.check_parameters(self.parameter_scales, argument="parameter_scales")
        self.system_parameters(system)

    def box(self, system: System) -> np.ndarray:
        """(n_x, 2) ``[low, high]`` of the initial-state box, in ``system.state_names`` order."""
        return np.array([self.initial_state.get(s, (0.0, 0.0)) for s in system.state_names])

    def sample_initial_states(self, system: System, n: int, rng: np.random.Generator) -> np.ndarray:
        """Draw ``n`` initial states.

        Returns:
            (n, n_x) states, uniform in the box, with random signs on the ``symmetric`` states.
        """
        b = self.box(system)
        x0 = rng.uniform(b[:, 0], b[:, 1], size=(n, system.n_x))
        if self.symmetric:
            cols = [system.state_names.index(s) for s in self.symmetric]
            x0[:, cols] *= rng.choice([-1.0, 1.0], size=(n, len(cols)))
        return x0

    def system_parameters(self, system: System) -> dict[str, float]:
        """The parameter values of this scenario: defaults × scales, then absolute values."""
        values = system.defaults
        for k, f in system.check_parameters(
            self.parameter_scales, argument="parameter_scales"
        ).items():
            values[k] = values[k] * f
        values.update(self.parameters)
        return {**values, **system.check_parameters(values, argument="parameters")}


# ---------------------------------------------------------------------------- loading
def _merge(tables: dict[str, Any], name: str, system: str, seen: tuple[str, ...]) -> dict[str, Any]:
    table = dict(tables[name])
    parent = table.pop("extends", None)
    if parent is None:
        return table
    if parent in seen or parent not in tables:
        problem = "a cycle" if parent in seen else "an unknown scenario"
        raise FormatError(
            f"Scenario {name!r} of {system} extends {parent!r}, {problem}. Scenarios in the "
            f"file: {sorted(tables)}."
        )
    return {**_merge(tables, parent, system, (*seen, name)), **table}


@cache
def _scenario_tables(system: str) -> dict[str, dict[str, Any]]:
    """The merged tables of ``scenarios/<system>.toml`` (a System's ``scenarios`` name)."""
    path = resources.files("hybridwm.systems").joinpath("scenarios", f"{system}.toml")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    try:
        tables = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FormatError(f"Cannot parse the scenarios of {system}: {exc}") from None
    return {k: _merge(tables, k, system, ()) for k in tables}


_REGISTRIES: dict[str, Registry[dict[str, Any]]] = {}


def _registry(system: str) -> Registry[dict[str, Any]]:
    file = SYSTEMS[system].scenarios  # unknown systems fail here, listing the valid ones
    reg = _REGISTRIES.get(system)
    if reg is None:
        reg = Registry(f"scenario of {system}", "`scenario`")
        for name, table in _scenario_tables(file).items():
            reg.register(name, table)
        _REGISTRIES[system] = reg
    return reg


def get_scenario(system: str, name: str) -> Scenario:
    """The scenario ``name`` of ``system`` (a fresh object each call).

    Raises:
        UnknownNameError: for an unknown system or scenario (the valid names are listed).
    """
    table = _registry(system)[name]
    return Scenario.from_dict({**table, "name": name, "system": system})


def list_scenarios(system: str) -> list[str]:
    """Names of the scenarios of ``system``, sorted."""
    return _registry(system).names()


def register_scenario(scenario: Scenario, *, overwrite: bool = False) -> Scenario:
    """Add a scenario (its ``system`` field says for which system) so names can refer to it."""
    system = SYSTEMS[scenario.system]
    scenario.check(system)
    table = {k: v for k, v in scenario.to_dict().items() if k not in ("name", "system")}
    _registry(scenario.system).register(scenario.name, table, overwrite=overwrite)
    return scenario
