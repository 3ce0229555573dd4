"""The ground-truth energy of recorded episodes, for the energy-drift metric."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from hybridwm.data import TrajectorySet
from hybridwm.errors import ConfigError, HybridWMError
from hybridwm.systems import System, get_scenario, get_system, list_systems

__all__ = ["ground_truth_energy"]


def ground_truth_energy(
    system: str, data: TrajectorySet, *, scenario: str | None = None
) -> Callable[[np.ndarray], np.ndarray] | None:
    """``energy(x)`` of the system the episodes ran on, or None where it defines none.

    The physical parameters are those recorded with the data (``meta["parameters"]`` of the
    first episode), else those of ``scenario`` of ``system``, else the system's defaults.

    Args:
        system: name of the ground-truth system (see ``hybridwm systems``).
        data: the recorded episodes whose energy is wanted.
        scenario: scenario the episodes were drawn from, used when they record no parameters.

    Returns:
        A function mapping states (..., n_x) to energies (...), or None when the system has no
        energy for these states (the data measure only some of its states).

    Raises:
        UnknownNameError: ``system`` or ``scenario`` is not a known name.
        ConfigError: the data do not come from ``system``: they were recorded from another
            system (``meta["system"]``), their states are not the system's, or their recorded
            parameters are not the system's. The message lists both and names the fix.
    """
    base = get_system(system)
    meta = data[0].meta or {}
    _check_same_system(base, data, meta)
    params = meta.get("parameters")
    if params:
        _check_parameters(base, params)
    if not params and scenario is not None:
        params = get_scenario(system, scenario).system_parameters(base)
    truth = base.with_parameters(**params) if params else base
    if not truth.n_x:
        return None
    try:
        truth.energy(np.asarray(data[0].x[:1]))
    except HybridWMError:  # no energy defined for this system (or these states)
        return None
    return truth.energy


def _fix(data: TrajectorySet, recorded: str | None) -> str:
    """How to get the energy drift: name the data's own system, or give no system."""
    owners = [recorded] if recorded else _systems_with(data.state_names)
    named = " or ".join(f"system={name!r} (`--system {name}`)" for name in owners)
    return (
        f"Pass the system the data were recorded from{', ' + named + ',' if named else ''} or "
        f"give no system to skip the energy drift (`hybridwm systems` lists each system's "
        f"states)."
    )


def _systems_with(states: tuple[str, ...]) -> list[str]:
    return [name for name in list_systems() if get_system(name).state_names == tuple(states)]


def _check_same_system(base: System, data: TrajectorySet, meta: Mapping[str, Any]) -> None:
    """``ConfigError`` if the data were recorded from another system or have other states.

    Data measuring only some of the system's states (a subset of its state names) pass: their
    energy is undefined and :func:`ground_truth_energy` returns None for them.
    """
    recorded = meta.get("system")
    recorded = recorded if isinstance(recorded, str) and recorded in list_systems() else None
    states, own = list(data.state_names), list(base.state_names)
    if recorded is not None and recorded != base.name:
        raise ConfigError(
            f"`system` is {base.name!r} but the data were recorded from system {recorded!r} "
            f"(meta['system'] of the episodes): their states are {states}, {base.name!r} has "
            f"states {own}. {_fix(data, recorded)}"
        )
    if states != own and not set(states) < set(own):
        raise ConfigError(
            f"The data's states {states} do not match the states {own} of system "
            f"{base.name!r} (`system`), so its energy cannot be computed on them. "
            f"{_fix(data, None)}"
        )


def _check_parameters(base: System, params: Any) -> None:
    """``ConfigError`` if the recorded ``meta["parameters"]`` are not parameters of ``base``."""
    if not isinstance(params, Mapping):
        raise ConfigError(
            f"The parameters recorded with the data (meta['parameters']) must be a mapping of "
            f"{base.name!r} parameter names to values. Got {type(params).__name__}."
        )
    foreign = sorted(set(params) - set(base.parameters))
    if not foreign:
        return
    owners = [n for n in list_systems() if set(params) <= set(get_system(n).parameters)]
    hint = f" (they are parameters of {' or '.join(map(repr, owners))})" if owners else ""
    raise ConfigError(
        f"`system` is {base.name!r} but the parameters recorded with the data "
        f"(meta['parameters']) include {foreign}, which are not parameters of {base.name!r} "
        f"({list(base.parameters)}){hint}: the data were not recorded from {base.name!r}. Pass "
        f"the system the data were recorded from, or give no system to skip the energy drift."
    )
