"""The hybridwm schema of a trajectory table, and the column roles (``Spec``) of a table.

The hybridwm schema is a small JSON object stored with the data (Parquet key-value metadata,
an NPZ string entry, the first line of a CSV file, ``DataFrame.attrs["hybridwm"]``)::

    {"format": "hybridwm.trajectories", "version": 1, "time": "t", "episode": "episode",
     "states": ["theta", "omega"], "actions": ["torque"], "meta": [{...}, {...}]}

``meta[i]`` is the metadata of the episode labelled ``i``. A table without a schema (a log
from elsewhere) is read through a :class:`ColumnMapping` instead; either way the roles of its
columns end up in a :class:`Spec`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from hybridwm._io import to_jsonable
from hybridwm.data.checks import check_number
from hybridwm.data.columns import ColumnMapping
from hybridwm.data.episode import Trajectory
from hybridwm.errors import ConfigError, DataError, FormatError, IncompatibleVersionError

__all__ = [
    "SCHEMA_FORMAT",
    "SCHEMA_KEY",
    "SCHEMA_VERSION",
    "Spec",
    "check_scale",
    "make_schema",
    "parse_schema",
    "spec_for_frame",
]

SCHEMA_KEY = "hybridwm"
SCHEMA_FORMAT = "hybridwm.trajectories"
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Spec:
    """Resolved column roles for one table (from a ColumnMapping or a stored schema).

    Attributes:
        time: the time column.
        states: the state columns, in order.
        actions: the action columns, in order.
        episode: the column labelling episodes, or ``None`` for one episode.
        time_scale: factor from the table's time unit to seconds.
        state_names: the names of the states in the resulting episodes.
        action_names: the names of the actions in the resulting episodes.
        from_schema: True if the roles come from a stored hybridwm schema.
        meta: the stored metadata of each episode (schema tables only).
        mapping: the column mapping, as a dict, that every episode remembers in
            ``meta["columns"]`` (files read through a mapping), or ``None``.
    """

    time: str
    states: tuple[str, ...]
    actions: tuple[str, ...]
    episode: str | None
    time_scale: float
    state_names: tuple[str, ...]
    action_names: tuple[str, ...]
    from_schema: bool = False
    meta: tuple[dict[str, Any], ...] | None = None
    mapping: dict[str, Any] | None = None

    @classmethod
    def from_mapping(
        cls, m: ColumnMapping, time_scale: float = 1.0, *, remember: bool = False
    ) -> Spec:
        """The roles ``m`` gives; with ``remember``, episodes keep ``m`` in ``meta["columns"]``.

        The remembered mapping holds the time scale in force (``m``'s or ``time_scale``), so
        that reading the same file with it alone gives the same episodes.
        """
        scale = _combine_scales(m.time_scale, time_scale)
        return cls(
            time=m.time,
            states=m.states,
            actions=m.actions,
            episode=m.episode,
            time_scale=scale,
            state_names=m.output_state_names,
            action_names=m.output_action_names,
            mapping=m.replace(time_scale=scale).to_dict() if remember else None,
        )

    @property
    def columns(self) -> list[str]:
        """Every column read: episode (if any), time, states, actions."""
        return [*([self.episode] if self.episode else []), self.time, *self.states, *self.actions]


def _combine_scales(mapping_scale: float, arg_scale: float) -> float:
    arg_scale = check_scale(arg_scale, "time_scale")
    if mapping_scale != 1.0 and arg_scale != 1.0:
        raise ConfigError(
            f"`time_scale` was given twice: {mapping_scale!r} in the ColumnMapping and "
            f"{arg_scale!r} as an argument. Give it once (in the mapping)."
        )
    return mapping_scale if mapping_scale != 1.0 else arg_scale


def check_scale(value: Any, name: str) -> float:
    """``value`` as a finite float > 0, else ``ConfigError`` naming ``name``."""
    return check_number(value, f"`{name}`", hint=" (e.g. 0.001 for milliseconds)")


# ---------------------------------------------------------------------------------- schema
def _free_name(base: str, taken: set[str]) -> str:
    name = base
    while name in taken:
        name += "_"
    return name


def make_schema(episodes: Sequence[Trajectory]) -> dict[str, Any]:
    """The hybridwm schema of ``episodes`` (sharing names, e.g. a ``TrajectorySet``): column
    roles and per-episode metadata (JSON types only).

    The time and episode columns are called ``t`` and ``episode`` unless a state or action
    already has that name, in which case underscores are appended (``t_``).

    Raises:
        DataError: if a state and an action share a name, or a ``meta`` is not JSON-serialisable.
    """
    states, actions = list(episodes[0].state_names), list(episodes[0].action_names)
    shared = sorted(set(states) & set(actions))
    if shared:
        raise DataError(
            f"State and action names must differ to be written as columns; {shared} are both. "
            f"Rename them, e.g. with Trajectory.replace(action_names=...)."
        )
    taken = set(states) | set(actions)
    time = _free_name("t", taken)
    episode = _free_name("episode", taken | {time})
    metas = []
    for i, tr in enumerate(episodes):
        meta = to_jsonable(tr.meta)
        try:
            json.dumps(meta, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise DataError(
                f"`meta` of trajectory {i} cannot be stored as JSON: {exc}. Keep meta to "
                f"strings, numbers, lists and dicts."
            ) from None
        metas.append(meta)
    return {
        "format": SCHEMA_FORMAT,
        "version": SCHEMA_VERSION,
        "time": time,
        "episode": episode,
        "states": states,
        "actions": actions,
        "meta": metas,
    }


def parse_schema(raw: Any, source: str, time_scale: float = 1.0) -> Spec:
    """Validate a stored schema (a JSON string, bytes or dict) and turn it into a ``Spec``.

    Raises:
        FormatError: if the schema is malformed.
        IncompatibleVersionError: if it was written by a newer hybridwm.
    """
    try:
        obj = json.loads(raw) if isinstance(raw, (str, bytes, bytearray)) else raw
    except (ValueError, UnicodeDecodeError) as exc:
        raise FormatError(f"The hybridwm schema of {source} is not valid JSON: {exc}.") from None
    if not isinstance(obj, Mapping) or obj.get("format") != SCHEMA_FORMAT:
        raise FormatError(
            f"The hybridwm schema of {source} is malformed: expected a JSON object with "
            f'"format": {SCHEMA_FORMAT!r}. Pass `columns=` to read the file with an explicit '
            f"ColumnMapping instead."
        )
    version = obj.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise FormatError(f"The hybridwm schema of {source} has an invalid version {version!r}.")
    if version > SCHEMA_VERSION:
        raise IncompatibleVersionError(
            f"{source} was written with trajectory schema version {version}; this hybridwm "
            f"reads version {SCHEMA_VERSION} and older. Upgrade hybridwm."
        )

    def names(key: str) -> tuple[str, ...]:
        val = obj.get(key)
        if not isinstance(val, list) or not all(isinstance(v, str) for v in val):
            raise FormatError(
                f"The hybridwm schema of {source} is malformed: {key!r} must be a list of "
                f"column names. Got {val!r}."
            )
        return tuple(val)

    states, actions = names("states"), names("actions")
    time, episode = obj.get("time"), obj.get("episode")
    if not isinstance(time, str) or not (episode is None or isinstance(episode, str)):
        raise FormatError(
            f"The hybridwm schema of {source} is malformed: 'time' and 'episode' must be "
            f"column names. Got {time!r} and {episode!r}."
        )
    meta = obj.get("meta", [])
    if not isinstance(meta, list) or not all(isinstance(m, dict) for m in meta):
        raise FormatError(
            f"The hybridwm schema of {source} is malformed: 'meta' must be a list of objects."
        )
    try:
        mapping = ColumnMapping(time=time, states=states, actions=actions, episode=episode)
    except ConfigError as exc:
        raise FormatError(f"The hybridwm schema of {source} is inconsistent: {exc}") from None
    return Spec(
        time=mapping.time,
        states=mapping.states,
        actions=mapping.actions,
        episode=mapping.episode,
        time_scale=check_scale(time_scale, "time_scale"),
        state_names=mapping.states,
        action_names=mapping.actions,
        from_schema=True,
        meta=tuple(meta),
    )


# ---------------------------------------------------------------------------------- DataFrames
def spec_for_frame(
    df: pd.DataFrame,
    time: str,
    states: Sequence[str] | None,
    actions: Sequence[str] | None,
    episode: str | None,
    time_scale: float,
) -> Spec:
    """The Spec that :meth:`TrajectorySet.from_dataframe` uses for its arguments (see there).

    With ``states=None`` and a hybridwm schema in ``df.attrs`` (from ``to_dataframe``), the
    schema is used; otherwise ``states`` defaults to every column that is not the time,
    episode or an action. ``episode="episode"`` (the default) that is not a column means one
    episode; any other missing episode column is an error.
    """
    cols = [str(c) for c in df.columns]
    schema = df.attrs.get(SCHEMA_KEY) if isinstance(df.attrs, dict) else None
    if states is None and actions is None and schema is not None and time == "t":
        spec = parse_schema(schema, "the DataFrame's attrs", time_scale)
        if episode == "episode" or episode == spec.episode:
            return spec
    if episode == "episode" and "episode" not in cols:
        episode = None
    actions_t = tuple(actions) if actions is not None else ()
    if states is None:
        skip = {time, *([episode] if episode else []), *actions_t}
        states = [c for c in cols if c not in skip]
        if not states:
            raise FormatError(
                f"The DataFrame has no columns left for states: columns {cols}, time {time!r}, "
                f"episode {episode!r}, actions {list(actions_t)}. Pass `states=[...]`."
            )
    try:
        mapping = ColumnMapping(time=time, states=tuple(states), actions=actions_t, episode=episode)
    except ConfigError as exc:
        raise ConfigError(f"Invalid columns for from_dataframe: {exc}") from None
    return Spec.from_mapping(mapping, time_scale)
