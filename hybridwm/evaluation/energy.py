"""The ground-truth energy of recorded episodes, for the energy-drift metric."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from hybridwm.data import TrajectorySet
from hybridwm.errors import HybridWMError
from hybridwm.systems import get_scenario, get_system

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
        energy for these states.

    Raises:
        UnknownNameError: ``system`` or ``scenario`` is not a known name.
    """
    base = get_system(system)
    params = data[0].meta.get("parameters") if data[0].meta else None
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
