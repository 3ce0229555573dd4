"""Trajectories: the data every hybridwm step reads and writes.

``Trajectory`` and ``TrajectorySet`` hold episodes; ``read_trajectories`` and
``write_trajectories`` move them to and from Parquet, CSV and NPZ files; ``ColumnMapping``
maps the columns of a user's own log; ``make_windows`` cuts episodes into training windows;
``mask_rows`` and ``select_episodes`` keep some rows (splitting episodes at the gaps) or episodes.
"""

from hybridwm.data.columns import ColumnMapping
from hybridwm.data.formats import FORMATS, SUFFIXES, read_schema
from hybridwm.data.io import read_trajectories, write_trajectories
from hybridwm.data.masks import (
    MaskResult,
    decode_events,
    encode_events,
    keep_rows,
    mask_rows,
    select_episodes,
)
from hybridwm.data.names import NamedSignals
from hybridwm.data.trajectory import Trajectory, TrajectorySet
from hybridwm.data.windows import WindowGroup, Windows, make_windows

__all__ = [
    "FORMATS",
    "SUFFIXES",
    "ColumnMapping",
    "MaskResult",
    "NamedSignals",
    "Trajectory",
    "TrajectorySet",
    "WindowGroup",
    "Windows",
    "decode_events",
    "encode_events",
    "keep_rows",
    "make_windows",
    "mask_rows",
    "read_schema",
    "read_trajectories",
    "select_episodes",
    "write_trajectories",
]
