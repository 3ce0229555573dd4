"""ColumnMapping: how the columns of a user's own log map onto a TrajectorySet.

A file written by hybridwm carries its own schema (which columns are states, which actions,
the per-episode metadata), so it needs no mapping. A log from anywhere else (a robot, a
sensor, another simulator) comes with its own column names and time unit; a ``ColumnMapping``
says which column is the time, which are states, which are actions and which labels episodes.

Example ``mapping.toml``::

    time = "time_ms"
    time_scale = 0.001            # milliseconds -> seconds
    episode = "run"               # leave out for a file holding a single episode
    states = ["q", "qd"]
    actions = ["torque"]
    state_names = ["theta", "omega"]   # optional renames, one per state column

Then ``read_trajectories("log.csv", columns="mapping.toml")`` or
``read_trajectories("log.csv", columns=ColumnMapping.from_file("mapping.toml"))``.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

from hybridwm.config import Config
from hybridwm.errors import ConfigError

__all__ = ["ColumnMapping"]


def _as_name_tuple(value: Any, field: str, *, allow_none: bool = False) -> tuple[str, ...] | None:
    if value is None and allow_none:
        return None
    if isinstance(value, str):
        raise ConfigError(
            f"`{field}` of ColumnMapping must be a list of column names. Got the single string "
            f"{value!r}; write [{value!r}] instead."
        )
    if not isinstance(value, Sequence):
        raise ConfigError(
            f"`{field}` of ColumnMapping must be a list of column names. Got "
            f"{type(value).__name__} {value!r}."
        )
    names = tuple(value)
    bad = [n for n in names if not isinstance(n, str) or not n]
    if bad:
        raise ConfigError(
            f"`{field}` of ColumnMapping must hold non-empty strings. Got {bad!r} in {list(names)}."
        )
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError(f"`{field}` of ColumnMapping names {dup} more than once; list each once.")
    return names


@dataclasses.dataclass
class ColumnMapping(Config):
    """Which columns of a long-format table hold the time, states, actions and episode labels.

    Args:
        time: name of the time column (numeric; datetime or timedelta columns are converted
            to seconds).
        states: names of the state (observation) columns, in order; at least one.
        actions: names of the action columns, in order; may be empty.
        episode: name of the column that labels episodes; ``None`` (or left out of a TOML
            file) means the whole file is one episode.
        time_scale: factor from the file's time unit to seconds, e.g. ``0.001`` for
            milliseconds. Must be finite and > 0.
        state_names: optional new names for the state columns, one per entry of ``states``.
        action_names: optional new names for the action columns, one per entry of ``actions``.

    Raises:
        ConfigError: if a field is invalid or two roles name the same column.
    """

    time: str
    states: tuple[str, ...]
    actions: tuple[str, ...] = ()
    episode: str | None = None
    time_scale: float = 1.0
    state_names: tuple[str, ...] | None = None
    action_names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.time, str) or not self.time:
            raise ConfigError(
                f"`time` of ColumnMapping must be the name of the time column. Got {self.time!r}."
            )
        if self.episode is not None and (not isinstance(self.episode, str) or not self.episode):
            raise ConfigError(
                f"`episode` of ColumnMapping must be a column name or None (one episode). "
                f"Got {self.episode!r}."
            )
        states = _as_name_tuple(self.states, "states") or ()
        actions = _as_name_tuple(self.actions, "actions") or ()
        if not states:
            raise ConfigError(
                "`states` of ColumnMapping is empty; name at least one state column, e.g. "
                "states=['theta', 'omega']."
            )
        scale = self.time_scale
        if isinstance(scale, bool) or not isinstance(scale, (int, float)):
            raise ConfigError(
                f"`time_scale` of ColumnMapping must be a number > 0 (seconds per file time "
                f"unit). Got {scale!r}."
            )
        if not math.isfinite(scale) or scale <= 0:
            raise ConfigError(
                f"`time_scale` of ColumnMapping must be finite and > 0, e.g. 0.001 for a time "
                f"column in milliseconds. Got {scale!r} instead."
            )
        roles: dict[str, list[str]] = {}
        for role, cols in (
            ("time", [self.time]),
            ("episode", [self.episode] if self.episode else []),
            ("states", list(states)),
            ("actions", list(actions)),
        ):
            for c in cols:
                roles.setdefault(c, []).append(role)
        clash = {c: r for c, r in roles.items() if len(r) > 1}
        if clash:
            desc = "; ".join(f"{c!r} is in {' and '.join(r)}" for c, r in sorted(clash.items()))
            raise ConfigError(f"Each column may have one role in a ColumnMapping: {desc}.")
        state_names = _as_name_tuple(self.state_names, "state_names", allow_none=True)
        action_names = _as_name_tuple(self.action_names, "action_names", allow_none=True)
        for field, new, old in (
            ("state_names", state_names, states),
            ("action_names", action_names, actions),
        ):
            if new is not None and len(new) != len(old):
                raise ConfigError(
                    f"`{field}` of ColumnMapping must give one name per column of "
                    f"`{field.split('_')[0]}s` ({len(old)}: {list(old)}). Got {len(new)}: "
                    f"{list(new)}."
                )
        if state_names and action_names and set(state_names) & set(action_names):
            raise ConfigError(
                f"`state_names` and `action_names` share {sorted(set(state_names) & set(action_names))}; "
                f"a name may be a state or an action, not both."
            )
        self.states = states
        self.actions = actions
        self.state_names = state_names
        self.action_names = action_names
        self.time_scale = float(scale)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ColumnMapping:
        """Build a mapping from a dict; unknown or missing fields raise ``ConfigError``."""
        if isinstance(data, dict):
            missing = [k for k in ("time", "states") if k not in data]
            if missing:
                raise ConfigError(
                    f"ColumnMapping needs the field(s) {missing}. Got only {sorted(data)}. "
                    f"Example: time = 't', states = ['theta', 'omega'], actions = ['torque']."
                )
        return super().from_dict(data)

    @property
    def columns(self) -> list[str]:
        """Every column this mapping reads: episode (if any), time, states, actions."""
        return [
            *([self.episode] if self.episode else []),
            self.time,
            *self.states,
            *self.actions,
        ]

    @property
    def output_state_names(self) -> tuple[str, ...]:
        """The state names of the resulting TrajectorySet (renamed or as in the file)."""
        return self.state_names or self.states

    @property
    def output_action_names(self) -> tuple[str, ...]:
        """The action names of the resulting TrajectorySet (renamed or as in the file)."""
        return self.action_names if self.action_names is not None else self.actions

    @classmethod
    def coerce(cls, value: Any) -> ColumnMapping:
        """Accept a ColumnMapping, a dict of its fields, or a path to a TOML/JSON file.

        Raises:
            ConfigError: if ``value`` is none of these.
        """
        if isinstance(value, ColumnMapping):
            return value
        if isinstance(value, Mapping):
            return cls.from_dict(dict(value))
        if isinstance(value, (str, os.PathLike)):
            return cls.from_file(value)
        raise ConfigError(
            f"`columns` must be a ColumnMapping, a dict of its fields or the path of a TOML "
            f"file. Got {type(value).__name__}."
        )
