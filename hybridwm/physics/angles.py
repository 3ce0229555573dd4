"""Which states are angles: told by a physics model, recorded with the data, or guessed by name."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hybridwm.data import TrajectorySet
from hybridwm.physics.features import guess_angles

__all__ = ["infer_angles", "recorded_angles"]


def recorded_angles(data: TrajectorySet) -> tuple[str, ...] | None:
    """The angle names recorded with the data, among its states, or None if there are none.

    A system simulated by hybridwm records its angle names in every trajectory's
    ``meta["angles"]`` (a list of state names); the first trajectory's are read.

    Args:
        data: the trajectories.
    """
    meta = data[0].meta
    angles = meta.get("angles") if meta else None
    if angles is None or isinstance(angles, str):
        return None
    found = tuple(a for a in angles if a in data.state_names)
    return found or None


def _physics_angles(physics: Any) -> tuple[str, ...] | None:
    """The angles a discovered model was told: ``info["config"]["angles"]``, its library's, or
    ``info["angles"]``; None if it records none."""
    info = getattr(physics, "info", None)
    if not isinstance(info, dict):
        return None
    for src in (info.get("config"), info.get("library")):
        if isinstance(src, dict) and src.get("angles") is not None:
            return tuple(src["angles"])
    if info.get("angles") is not None:
        return tuple(info["angles"])
    return None


def infer_angles(
    state_names: Sequence[str],
    *,
    physics: Any = None,
    data: TrajectorySet | None = None,
) -> tuple[str, ...]:
    """Which of ``state_names`` are angles, from the best source available.

    In order: the angles a discovered ``physics`` model was told (``info["config"]["angles"]``
    or its library's), the angles recorded with the data (``meta["angles"]`` of the first
    trajectory, which systems simulated by hybridwm write), else the names that look like angles
    (:func:`~hybridwm.physics.guess_angles`: ``theta``, ``phi1``, ``*angle*``, ...).

    Args:
        state_names: the candidate state names.
        physics: a PhysicsModel (or ``None``).
        data: the trajectories (or ``None``).

    Returns:
        The angle names, in ``state_names`` order (possibly empty).
    """
    names = tuple(state_names)
    found = _physics_angles(physics)
    if found is None and data is not None and len(data):
        found = recorded_angles(data)
    if found is None:
        found = guess_angles(names)
    return tuple(n for n in names if n in set(found))
