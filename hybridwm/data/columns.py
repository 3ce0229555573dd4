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

import os
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationInfo, field_validator, model_validator

from hybridwm.config import Config
from hybridwm.data.checks import check_number
from hybridwm.errors import ConfigError

__all__ = ["ColumnMapping"]


def _as_name_tuple(value: Any, field: str) -> tuple[str, ...]:
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

    @field_validator("time", mode="before")
    @classmethod
    def _time_column(cls, value: Any) -> str:
        if not isinstance(value, str) or not value:
            raise ConfigError(
                f"`time` of ColumnMapping must be the name of the time column. Got {value!r}."
            )
        return value

    @field_validator("episode", mode="before")
    @classmethod
    def _episode_column(cls, value: Any) -> str | None:
        if value is not None and (not isinstance(value, str) or not value):
            raise ConfigError(
                f"`episode` of ColumnMapping must be a column name or None (one episode). "
                f"Got {value!r}."
            )
        return value

    @field_validator("states", "actions", mode="before")
    @classmethod
    def _column_names(cls, value: Any, info: ValidationInfo) -> tuple[str, ...]:
        names = _as_name_tuple(value, str(info.field_name))
        if info.field_name == "states" and not names:
            raise ConfigError(
                "`states` of ColumnMapping is empty; name at least one state column, e.g. "
                "states=['theta', 'omega']."
            )
        return names

    @field_validator("state_names", "action_names", mode="before")
    @classmethod
    def _new_names(cls, value: Any, info: ValidationInfo) -> tuple[str, ...] | None:
        return None if value is None else _as_name_tuple(value, str(info.field_name))

    @field_validator("time_scale", mode="before")
    @classmethod
    def _time_scale(cls, value: Any) -> float:
        return check_number(
            value,
            "`time_scale` of ColumnMapping",
            hint=" (seconds per file time unit, e.g. 0.001 for a time column in milliseconds)",
        )

    @model_validator(mode="after")
    def _one_role_per_column(self) -> ColumnMapping:
        roles: dict[str, list[str]] = {}
        for role, cols in (
            ("time", [self.time]),
            ("episode", [self.episode] if self.episode else []),
            ("states", list(self.states)),
            ("actions", list(self.actions)),
        ):
            for c in cols:
                roles.setdefault(c, []).append(role)
        clash = {c: r for c, r in roles.items() if len(r) > 1}
        if clash:
            desc = "; ".join(f"{c!r} is in {' and '.join(r)}" for c, r in sorted(clash.items()))
            raise ConfigError(f"Each column may have one role in a ColumnMapping: {desc}.")
        return self

    @model_validator(mode="after")
    def _one_new_name_per_column(self) -> ColumnMapping:
        for field, new, old in (
            ("state_names", self.state_names, self.states),
            ("action_names", self.action_names, self.actions),
        ):
            if new is not None and len(new) != len(old):
                raise ConfigError(
                    f"`{field}` of ColumnMapping must give one name per column of "
                    f"`{field.split('_')[0]}s` ({len(old)}: {list(old)}). Got {len(new)}: "
                    f"{list(new)}."
                )
        shared = set(self.state_names or ()) & set(self.action_names or ())
        if shared:
            raise ConfigError(
                f"`state_names` and `action_names` share {sorted(shared)}; a name may be a state "
                f"or an action, not both."
            )
        return self

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
