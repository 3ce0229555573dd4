"""``read_trajectories`` and ``write_trajectories``: the file functions of the public API.

They are :meth:`TrajectorySet.read` and :meth:`TrajectorySet.write` as functions (the latter
also takes one trajectory or a list of them); the formats themselves live in
:mod:`hybridwm.data.formats`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from hybridwm.data.trajectory import Trajectory, TrajectorySet
from hybridwm.errors import DataError

__all__ = ["read_trajectories", "write_trajectories"]

#: Read a TrajectorySet from a Parquet, CSV or NPZ file: :meth:`TrajectorySet.read`.
read_trajectories = TrajectorySet.read


def write_trajectories(
    data: TrajectorySet | Trajectory | Iterable[Trajectory],
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
) -> Path:
    """Write trajectories to a Parquet, CSV or NPZ file, atomically: :meth:`TrajectorySet.write`.

    Args:
        data: the trajectories (a set, one trajectory, or a list of them sharing names).
        path: destination; its suffix gives the format unless ``format`` is given.
        format: ``"parquet"``, ``"csv"`` or ``"npz"``, overriding the suffix.

    Returns:
        ``path`` as a Path.

    Raises:
        DataError: if ``data`` is not trajectories, or as :meth:`TrajectorySet.write`.
    """
    return _as_set(data).write(path, format=format)


def _as_set(data: Any) -> TrajectorySet:
    if isinstance(data, TrajectorySet):
        return data
    if isinstance(data, Trajectory):
        return TrajectorySet([data])
    if isinstance(data, Iterable) and not isinstance(data, (str, bytes, Mapping)):
        return TrajectorySet(list(data))
    raise DataError(
        f"`data` of write_trajectories must be a TrajectorySet, a Trajectory or a list of "
        f"trajectories. Got {type(data).__name__}."
    )
