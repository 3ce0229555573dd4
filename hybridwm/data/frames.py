"""Long-format tables ↔ TrajectorySet, with row-level validation.

Long format is one row per sample: ``episode, t, <state columns>, <action columns>``. Every
reader in :mod:`hybridwm.data.io` turns its file into a DataFrame and hands it to
:func:`frame_to_set`, so CSV, Parquet, NPZ and in-memory DataFrames are validated by the same
code and give the same messages.

Messages name the episode by its label in the file (``Episode 3``, ``Episode 'run-a'``), the
column, the row within the episode and the row within the file or DataFrame. Rows are
numbered from 0 and count data rows only (the header is excluded), as pandas numbers them.

The hybridwm schema is a small JSON object stored with the data (Parquet key-value metadata,
an NPZ string entry, the first line of a CSV file, ``DataFrame.attrs["hybridwm"]``)::

    {"format": "hybridwm.trajectories", "version": 1, "time": "t", "episode": "episode",
     "states": ["theta", "omega"], "actions": ["torque"], "meta": [{...}, {...}]}

``meta[i]`` is the metadata of the episode labelled ``i``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from hybridwm._io import to_jsonable
from hybridwm.data.columns import ColumnMapping
from hybridwm.data.trajectory import Trajectory, TrajectorySet
from hybridwm.errors import (
    ConfigError,
    DataError,
    FormatError,
    HybridWMError,
    IncompatibleVersionError,
)

__all__ = [
    "SCHEMA_FORMAT",
    "SCHEMA_KEY",
    "SCHEMA_VERSION",
    "Spec",
    "check_scale",
    "frame_to_set",
    "make_schema",
    "parse_schema",
    "set_to_frame",
    "spec_for_frame",
]

SCHEMA_KEY = "hybridwm"
SCHEMA_FORMAT = "hybridwm.trajectories"
SCHEMA_VERSION = 1
MIN_SAMPLES = 2
_CLEAN_HINT = (
    "pass `dropna=True` to drop such rows, or `allow_nan=True` and then call "
    "`.interpolate()` or `.dropna()` on the result"
)


@dataclass(frozen=True)
class Spec:
    """Resolved column roles for one table (from a ColumnMapping or a stored schema)."""

    time: str
    states: tuple[str, ...]
    actions: tuple[str, ...]
    episode: str | None
    time_scale: float
    state_names: tuple[str, ...]
    action_names: tuple[str, ...]
    from_schema: bool = False
    meta: tuple[dict[str, Any], ...] | None = None

    @classmethod
    def from_mapping(cls, m: ColumnMapping, time_scale: float = 1.0) -> Spec:
        return cls(
            time=m.time,
            states=m.states,
            actions=m.actions,
            episode=m.episode,
            time_scale=_combine_scales(m.time_scale, time_scale),
            state_names=m.output_state_names,
            action_names=m.output_action_names,
        )

    @property
    def columns(self) -> list[str]:
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
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigError(f"`{name}` must be a number > 0. Got {value!r}.")
    v = float(value)
    if not math.isfinite(v) or v <= 0:
        raise ConfigError(
            f"`{name}` must be finite and > 0 (e.g. 0.001 for milliseconds). Got {value!r} instead."
        )
    return v


# ---------------------------------------------------------------------------------- schema
def _free_name(base: str, taken: set[str]) -> str:
    name = base
    while name in taken:
        name += "_"
    return name


def make_schema(ts: TrajectorySet) -> dict[str, Any]:
    """The hybridwm schema of ``ts``: column roles and per-episode metadata (JSON types only).

    The time and episode columns are called ``t`` and ``episode`` unless a state or action
    already has that name, in which case underscores are appended (``t_``).

    Raises:
        DataError: if a state and an action share a name, or a ``meta`` is not JSON-serialisable.
    """
    states, actions = list(ts.state_names), list(ts.action_names)
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
    for i, tr in enumerate(ts):
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


# ---------------------------------------------------------------------------------- set → frame
def set_to_frame(ts: TrajectorySet) -> pd.DataFrame:
    """Long-format DataFrame of ``ts`` (see :meth:`TrajectorySet.to_dataframe`)."""
    schema = make_schema(ts)
    lengths = ts.lengths
    data: dict[str, np.ndarray] = {
        schema["episode"]: np.repeat(np.arange(len(ts), dtype=np.int64), lengths),
        schema["time"]: np.concatenate([tr.t for tr in ts]),
    }
    x = np.concatenate([tr.x for tr in ts], axis=0)
    u = np.concatenate([tr.u for tr in ts], axis=0)
    for j, name in enumerate(ts.state_names):
        data[name] = x[:, j]
    for j, name in enumerate(ts.action_names):
        data[name] = u[:, j]
    df = pd.DataFrame(data)
    df.attrs[SCHEMA_KEY] = schema
    return df


# ---------------------------------------------------------------------------------- frame → set
def _episode_name(label: Any) -> str:
    return f"Episode {label!r}" if isinstance(label, str) else f"Episode {label}"


def _label_value(label: Any) -> Any:
    if isinstance(label, np.generic):
        label = label.item()
    if isinstance(label, (str, int, float, bool)):
        return label
    return str(label)


def _float_or_none(v: Any) -> float | None:
    try:
        return float(v)
    except (TypeError, ValueError, OverflowError):
        return None


def _to_float(series: pd.Series, col: str, source: str, *, is_time: bool) -> np.ndarray:
    """Column ``col`` as float64 (N,), or ``FormatError`` naming the first non-numeric row."""
    dtype = series.dtype
    try:
        if is_time and pd.api.types.is_datetime64_any_dtype(dtype):
            tz = getattr(dtype, "tz", None)
            epoch = pd.Timestamp(0, tz="UTC") if tz is not None else pd.Timestamp(0)
            return (series - epoch).dt.total_seconds().to_numpy(np.float64, na_value=np.nan)
        if is_time and pd.api.types.is_timedelta64_dtype(dtype):
            return series.dt.total_seconds().to_numpy(np.float64, na_value=np.nan)
    except (TypeError, ValueError, OverflowError, AttributeError) as exc:
        raise FormatError(
            f"Time column `{col}` of {source} holds dates that cannot be converted to seconds: "
            f"{exc}."
        ) from None
    if (
        pd.api.types.is_numeric_dtype(dtype)
        and not pd.api.types.is_complex_dtype(dtype)
        and not pd.api.types.is_datetime64_any_dtype(dtype)
        and not pd.api.types.is_timedelta64_dtype(dtype)
    ):
        try:
            with np.errstate(over="ignore", invalid="ignore"):
                return series.to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError, OverflowError):
            pass
    # Object / string / other columns: Python's float() on each value (exact for decimal
    # strings); on failure, go value by value to report the first bad one.
    values = series.to_numpy(dtype=object)
    try:
        if any(isinstance(v, (complex, np.complexfloating)) for v in values):
            raise TypeError("complex values")
        with np.errstate(over="ignore", invalid="ignore"):
            fast = np.asarray(
                [np.nan if v is None or v is pd.NA or v is pd.NaT else v for v in values],
                dtype=np.float64,
            )
        if fast.shape == values.shape:  # nested sequences would add dimensions
            return fast
    except (TypeError, ValueError, OverflowError):
        pass
    out = np.empty(len(values), dtype=np.float64)
    first_bad: int | None = None
    n_bad = 0
    for i, v in enumerate(values):
        if v is None or v is pd.NA or v is pd.NaT:
            out[i] = np.nan
            continue
        f = None if isinstance(v, (complex, np.complexfloating)) else _float_or_none(v)
        if f is None or isinstance(v, (list, tuple, dict, np.ndarray)):
            n_bad += 1
            if first_bad is None:
                first_bad = i
            out[i] = np.nan
        else:
            out[i] = f
    if first_bad is not None:
        v = values[first_bad]
        shown = repr(v) if len(repr(v)) <= 60 else repr(v)[:57] + "..."
        kind = "Time column" if is_time else "Column"
        raise FormatError(
            f"{kind} `{col}` must be numeric, but row {first_bad} of {source} holds {shown} "
            f"({type(v).__name__}); {n_bad} of {len(values)} rows are not numbers. Fix those "
            f"values in the data, or leave `{col}` out of the mapped columns."
        )
    return out


def _check_columns(df: pd.DataFrame, spec: Spec, source: str) -> list[str]:
    """Check that the mapped columns exist; return the unmapped (extra) ones."""
    cols = [str(c) for c in df.columns]
    dup = sorted({c for c in cols if cols.count(c) > 1})
    if dup:
        raise FormatError(
            f"{source[0].upper()}{source[1:]} has duplicate column names {dup}; give every "
            f"column a unique name."
        )
    missing = [c for c in spec.columns if c not in cols]
    if missing:
        where = "the hybridwm schema stored in it" if spec.from_schema else "the column mapping"
        raise FormatError(
            f"{source[0].upper()}{source[1:]} lacks the column(s) {missing} named by {where}. "
            f"Available columns: {cols}. Give the right names: `columns=` (a ColumnMapping) "
            f"for files, `time=`/`states=`/`actions=`/`episode=` for from_dataframe."
        )
    used = set(spec.columns)
    return [c for c in cols if c not in used]


def frame_to_set(
    df: pd.DataFrame,
    spec: Spec,
    *,
    source: str,
    dropna: bool = False,
    allow_nan: bool = False,
) -> tuple[TrajectorySet, list[str]]:
    """Validate a long-format table and build the TrajectorySet it holds.

    Episodes are ordered by first appearance; rows keep their order within an episode
    (episodes need not be contiguous).

    Args:
        df: the table; one row per sample.
        spec: which columns are time, states, actions and episode.
        source: how messages name the table, e.g. ``"the file 'log.csv'"``.
        dropna: drop rows with a missing value (NaN/±inf) in the time, state or action columns.
        allow_nan: keep missing state/action values (the result has ``allow_nan=True``).

    Returns:
        The set, and warnings (messages) for the caller to emit with the right stack level.

    Raises:
        FormatError: missing/duplicate/non-numeric columns, empty table, ragged columns.
        DataError: missing values, unsorted or duplicate times, episodes under 2 samples.
    """
    if not isinstance(df, pd.DataFrame):
        raise FormatError(f"Expected a pandas DataFrame. Got {type(df).__name__}.")
    notes: list[str] = []
    extra = _check_columns(df, spec, source)
    df = df.set_axis([str(c) for c in df.columns], axis=1)
    if extra and spec.from_schema:
        notes.append(
            f"{source[0].upper()}{source[1:]} has column(s) {extra} that its hybridwm schema does "
            f"not list as time, episode, state or action; they were ignored. Pass `columns=` "
            f"(a ColumnMapping) to read them as states or actions."
        )
    n_rows = len(df)
    if n_rows == 0:
        raise FormatError(
            f"{source[0].upper()}{source[1:]} has a header but no data rows; it holds no samples."
        )

    t_raw = _to_float(df[spec.time], spec.time, source, is_time=True)
    data_cols = [*spec.states, *spec.actions]
    X = np.empty((n_rows, len(data_cols)), dtype=np.float64)
    for j, c in enumerate(data_cols):
        X[:, j] = _to_float(df[c], c, source, is_time=False)

    # ------------------------------------------------------------ episodes
    if spec.episode is None:
        codes = np.zeros(n_rows, dtype=np.int64)
        labels: list[Any] = [0]
    else:
        ep = df[spec.episode]
        na = np.asarray(ep.isna(), dtype=bool)
        if na.any():
            r = int(np.flatnonzero(na)[0])
            raise FormatError(
                f"Episode column `{spec.episode}` is empty at row {r} of {source} "
                f"({int(na.sum())} rows in all); every row needs an episode label."
            )
        try:
            codes, uniques = pd.factorize(ep, sort=False)
        except TypeError as exc:
            raise FormatError(
                f"Episode column `{spec.episode}` of {source} holds values that cannot label "
                f"episodes ({exc}); use integers or strings."
            ) from None
        codes = np.asarray(codes, dtype=np.int64)
        labels = [_label_value(u) for u in uniques]
    n_ep = len(labels)
    order = np.argsort(codes, kind="stable")
    file_row = order
    code_s = codes[order]
    t_s = t_raw[order]
    X_s = X[order]
    counts = np.bincount(code_s, minlength=n_ep)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    pos = np.arange(n_rows) - np.repeat(starts, counts)  # row within its episode

    # ------------------------------------------------------------ ragged columns
    finite = np.isfinite(X_s)
    if X_s.shape[1]:
        per_ep = np.add.reduceat(finite.astype(np.int64), starts, axis=0)  # (n_ep, n_cols)
        for j, c in enumerate(data_cols):
            empty = np.flatnonzero(per_ep[:, j] == 0)
            if not empty.size:
                continue
            role = "State" if j < len(spec.states) else "Action"
            key = "states" if j < len(spec.states) else "actions"
            if empty.size == n_ep:
                raise FormatError(
                    f"{role} column `{c}` of {source} has no values at all (every row is empty "
                    f"or NaN); leave it out of `{key}`."
                )
            shown = ", ".join(repr(labels[k]) for k in empty[:5]) + (
                ", ..." if empty.size > 5 else ""
            )
            raise FormatError(
                f"{role} column `{c}` of {source} is empty in {empty.size} of {n_ep} episodes "
                f"(labels {shown}) but has values in the others: the columns are ragged. Every "
                f"episode needs every column: fill `{c}` in those episodes, drop those "
                f"episodes, or leave `{c}` out of `{key}`."
            )

    # ------------------------------------------------------------ missing values
    t_fin = np.isfinite(t_s)
    row_ok = finite.all(axis=1) if X_s.shape[1] else np.ones(n_rows, dtype=bool)
    dropped = False
    if dropna:
        keep = t_fin & row_ok
        if not keep.all():
            dropped = True
            t_s, X_s, code_s, pos, file_row = (
                t_s[keep],
                X_s[keep],
                code_s[keep],
                pos[keep],
                file_row[keep],
            )
    else:
        if not t_fin.all():
            bad = np.flatnonzero(~t_fin)
            i = bad[np.argmin(file_row[bad])]
            kind = "NaN" if np.isnan(t_s[i]) else "inf"
            raise DataError(
                f"{_episode_name(labels[code_s[i]])} has {kind} in time column `{spec.time}` at "
                f"row {pos[i]} (row {file_row[i]} of {source}); {bad.size} rows have no valid "
                f"time. Times cannot be interpolated: pass `dropna=True` to drop those rows."
            )
        if not allow_nan and not row_ok.all():
            bad_rows = np.flatnonzero(~row_ok)
            i = bad_rows[np.argmin(file_row[bad_rows])]
            j = int(np.flatnonzero(~finite[i])[0])
            kind = "NaN" if np.isnan(X_s[i, j]) else "inf"
            n_vals = int((~finite).sum())
            n_eps = len(np.unique(code_s[bad_rows]))
            raise DataError(
                f"{_episode_name(labels[code_s[i]])} has {kind} in column `{data_cols[j]}` at "
                f"row {pos[i]} (row {file_row[i]} of {source}); {n_vals} missing values in "
                f"{bad_rows.size} rows of {n_eps} episode(s) in all. To clean them, "
                f"{_CLEAN_HINT}."
            )

    # ------------------------------------------------------------ episode lengths
    counts = np.bincount(code_s, minlength=n_ep)
    short = np.flatnonzero(counts < MIN_SAMPLES)
    if short.size:
        k = int(short[0])
        after = " after dropping rows with missing values" if dropped else ""
        rows = file_row[code_s == k]
        where = f" (row {int(rows[0])} of {source})" if rows.size == 1 else ""
        others = f"; {short.size} episodes in all are too short" if short.size > 1 else ""
        if spec.episode:
            fix = f"Drop those episodes or check the episode column `{spec.episode}`."
        else:
            fix = "The table (one episode, no episode column) needs more rows."
        raise DataError(
            f"{_episode_name(labels[k])} has {int(counts[k])} sample(s){where}{after}; an "
            f"episode needs at least {MIN_SAMPLES} samples{others}. {fix}"
        )
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)

    # ------------------------------------------------------------ time order
    if len(t_s) > 1:
        d = np.diff(t_s)
        same = code_s[1:] == code_s[:-1]
        bad = np.flatnonzero(same & ~(d > 0))
        if bad.size:
            i = int(bad[np.argmin(file_row[bad + 1])])
            name = _episode_name(labels[code_s[i]])
            a, b = i, i + 1
            ep_hint = (
                f" or check the episode column `{spec.episode}` (two episodes with one label?)"
                if spec.episode
                else " or map the column that separates episodes as `episode`"
            )
            by = [spec.episode, spec.time] if spec.episode else [spec.time]
            if d[i] == 0:
                raise DataError(
                    f"{name} has the duplicate timestamp {spec.time}={float(t_s[b])!r} at rows {pos[a]} "
                    f"and {pos[b]} (rows {file_row[a]} and {file_row[b]} of {source}); each time "
                    f"may appear once per episode. Drop duplicates, e.g. "
                    f"`df.drop_duplicates(subset={by})`,{ep_hint}."
                )
            raise DataError(
                f"{name} is not sorted by time: row {pos[b]} has {spec.time}={float(t_s[b])!r} after "
                f"{spec.time}={float(t_s[a])!r} at row {pos[a]} (rows {file_row[b]} and {file_row[a]} "
                f"of {source}); times must increase strictly within an episode. Sort the rows, "
                f"e.g. `df.sort_values({by})`,{ep_hint}."
            )

    # ------------------------------------------------------------ build
    scale = spec.time_scale
    t_out = t_s * scale if scale != 1.0 else t_s
    n_x = len(spec.states)
    trajs = []
    for k in range(n_ep):
        sl = slice(int(starts[k]), int(starts[k] + counts[k]))
        meta = _meta_for(spec, labels[k])
        try:
            trajs.append(
                Trajectory(
                    t=np.ascontiguousarray(t_out[sl]),
                    x=np.ascontiguousarray(X_s[sl, :n_x]),
                    u=np.ascontiguousarray(X_s[sl, n_x:]),
                    state_names=spec.state_names,
                    action_names=spec.action_names,
                    meta=meta,
                    allow_nan=allow_nan,
                )
            )
        except HybridWMError as exc:
            raise type(exc)(f"{_episode_name(labels[k])} of {source}: {exc}") from None
    ts = TrajectorySet(trajs)

    # ------------------------------------------------------------ constant columns
    if X_s.shape[1]:
        fin = np.isfinite(X_s)
        hi = np.where(fin, X_s, -np.inf).max(axis=0)
        lo = np.where(fin, X_s, np.inf).min(axis=0)
        for j in np.flatnonzero((hi == lo) & fin.any(axis=0)):
            role = "State" if j < n_x else "Action"
            notes.append(
                f"{role} column `{data_cols[j]}` of {source} is constant (= {float(hi[j])!r}) over all "
                f"{n_ep} episode(s); it carries no information about the dynamics. Check the "
                f"log, or leave it out of the mapped columns."
            )
    return ts, notes


def _meta_for(spec: Spec, label: Any) -> dict[str, Any]:
    if spec.from_schema:
        meta = spec.meta or ()
        if isinstance(label, (int, float)) and not isinstance(label, bool):
            if float(label).is_integer() and 0 <= int(label) < len(meta):
                return dict(meta[int(label)])
        return {}
    return {"episode": label} if spec.episode else {}


def spec_for_frame(
    df: pd.DataFrame,
    *,
    time: str = "t",
    states: Sequence[str] | None = None,
    actions: Sequence[str] | None = None,
    episode: str | None = "episode",
    time_scale: float = 1.0,
) -> Spec:
    """The Spec that :meth:`TrajectorySet.from_dataframe` uses for its arguments.

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
