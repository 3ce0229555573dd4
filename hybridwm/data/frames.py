"""Long-format tables ↔ episodes, with row-level validation.

Long format is one row per sample: ``episode, t, <state columns>, <action columns>``. Every
file format in :mod:`hybridwm.data.formats` turns its file into a DataFrame and hands it to
:func:`frame_to_episodes`, so CSV, Parquet, NPZ and in-memory DataFrames are validated by the
same code and give the same messages. The column roles come in a :class:`~hybridwm.data.schema.Spec`.

Messages name the episode by its label in the file (``Episode 3``, ``Episode 'run-a'``), the
column, the row within the episode and the row within the file or DataFrame. Rows are
numbered from 0 and count data rows only (the header is excluded), as pandas numbers them.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from hybridwm.data.checks import capitalized, require_keys, warn_caller
from hybridwm.data.episode import MIN_SAMPLES, Trajectory, episode_name
from hybridwm.data.numeric import column_as_float
from hybridwm.data.schema import SCHEMA_KEY, Spec, make_schema
from hybridwm.errors import DataError, FormatError, HybridWMError

__all__ = ["episodes_to_frame", "frame_to_episodes"]

_CLEAN_HINT = (
    "pass `dropna=True` to drop such rows, or `allow_nan=True` and then call "
    "`.interpolate()` or `.dropna()` on the result"
)


# ---------------------------------------------------------------------------------- episodes → frame
def episodes_to_frame(episodes: Sequence[Trajectory]) -> pd.DataFrame:
    """Long-format DataFrame of ``episodes`` (see :meth:`TrajectorySet.to_dataframe`).

    Args:
        episodes: trajectories sharing names (a ``TrajectorySet``).
    """
    schema = make_schema(episodes)
    lengths = [len(tr) for tr in episodes]
    data: dict[str, np.ndarray] = {
        schema["episode"]: np.repeat(np.arange(len(episodes), dtype=np.int64), lengths),
        schema["time"]: np.concatenate([tr.t for tr in episodes]),
    }
    x = np.concatenate([tr.x for tr in episodes], axis=0)
    u = np.concatenate([tr.u for tr in episodes], axis=0)
    for j, name in enumerate(schema["states"]):
        data[name] = x[:, j]
    for j, name in enumerate(schema["actions"]):
        data[name] = u[:, j]
    df = pd.DataFrame(data)
    df.attrs[SCHEMA_KEY] = schema
    return df


# ---------------------------------------------------------------------------------- frame → episodes
def _label_value(label: Any) -> Any:
    if isinstance(label, np.generic):
        label = label.item()
    if isinstance(label, (str, int, float, bool)):
        return label
    return str(label)


@dataclass(frozen=True)
class _Table:
    """What the checks need to know about a table besides its rows.

    Attributes:
        spec: the column roles.
        source: how messages name the table, e.g. ``"the file 'log.csv'"``.
        labels: the episode labels, in order of first appearance.
    """

    spec: Spec
    source: str
    labels: list[Any]

    @property
    def data_columns(self) -> list[str]:
        """The state columns, then the action columns."""
        return [*self.spec.states, *self.spec.actions]

    def episode(self, code: int) -> str:
        """``Episode <label>`` of the episode with index ``code``."""
        return episode_name(self.labels[code])


@dataclass(frozen=True)
class _Rows:
    """The rows of a table sorted by episode (file order within an episode).

    Attributes:
        t: (N,) times in the table's unit.
        values: (N, n_x + n_u) states, then actions.
        code: (N,) index of each row's episode in ``_Table.labels``.
        pos: (N,) row within its episode.
        file_row: (N,) row within the file or DataFrame.
    """

    t: np.ndarray
    values: np.ndarray
    code: np.ndarray
    pos: np.ndarray
    file_row: np.ndarray

    def take(self, keep: np.ndarray) -> _Rows:
        """The rows where the (N,) mask ``keep`` is true."""
        return _Rows(
            self.t[keep], self.values[keep], self.code[keep], self.pos[keep], self.file_row[keep]
        )


def frame_to_episodes(
    df: pd.DataFrame,
    spec: Spec,
    *,
    source: str,
    dropna: bool = False,
    allow_nan: bool = False,
) -> list[Trajectory]:
    """Validate a long-format table and build the episodes it holds.

    Episodes are ordered by first appearance; rows keep their order within an episode
    (episodes need not be contiguous).

    Args:
        df: the table; one row per sample.
        spec: which columns are time, states, actions and episode.
        source: how messages name the table, e.g. ``"the file 'log.csv'"``.
        dropna: drop rows with a missing value (NaN/±inf) in the time, state or action columns.
        allow_nan: keep missing state/action values (the result has ``allow_nan=True``).

    Returns:
        The episodes, sharing names.

    Raises:
        FormatError: missing/duplicate/non-numeric columns, empty table, ragged columns.
        DataError: missing values, unsorted or duplicate times, episodes under 2 samples.

    Warns:
        UserWarning: for unlisted columns of a table with a schema, and for constant columns.
    """
    if not isinstance(df, pd.DataFrame):
        raise FormatError(f"Expected a pandas DataFrame. Got {type(df).__name__}.")
    notes = _extra_column_notes(df, spec, source)
    df = df.set_axis([str(c) for c in df.columns], axis=1)
    if len(df) == 0:
        raise FormatError(
            f"{capitalized(source)} has a header but no data rows; it holds no samples."
        )
    table, rows = _sorted_rows(df, spec, source)
    _check_ragged(table, rows)
    kept = _missing_values(table, rows, dropna=dropna, allow_nan=allow_nan)
    counts = _episode_lengths(table, kept, dropped=len(kept.t) < len(rows.t))
    _check_time_order(table, kept)
    episodes = _build(table, kept, counts, allow_nan=allow_nan)
    for note in [*notes, *_constant_column_notes(table, kept)]:
        warn_caller(note)
    return episodes


def _extra_column_notes(df: pd.DataFrame, spec: Spec, source: str) -> list[str]:
    """Check that the mapped columns exist; a note on the unlisted ones of a schema table."""
    cols = [str(c) for c in df.columns]
    dup = sorted({c for c in cols if cols.count(c) > 1})
    if dup:
        raise FormatError(
            f"{capitalized(source)} has duplicate column names {dup}; give every "
            f"column a unique name."
        )
    where = "the hybridwm schema stored in it" if spec.from_schema else "the column mapping"
    require_keys(
        cols,
        spec.columns,
        lambda missing: FormatError(
            f"{capitalized(source)} lacks the column(s) {missing} named by {where}. "
            f"Available columns: {cols}. Give the right names: `columns=` (a ColumnMapping) "
            f"for files, `time=`/`states=`/`actions=`/`episode=` for from_dataframe."
        ),
    )
    used = set(spec.columns)
    extra = [c for c in cols if c not in used]
    if not (extra and spec.from_schema):
        return []
    return [
        f"{capitalized(source)} has column(s) {extra} that its hybridwm schema does "
        f"not list as time, episode, state or action; they were ignored. Pass `columns=` "
        f"(a ColumnMapping) to read them as states or actions."
    ]


def _episode_codes(df: pd.DataFrame, spec: Spec, source: str) -> tuple[np.ndarray, list[Any]]:
    """(N,) episode index of every row, and the labels in order of first appearance."""
    if spec.episode is None:
        return np.zeros(len(df), dtype=np.int64), [0]
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
    return np.asarray(codes, dtype=np.int64), [_label_value(u) for u in uniques]


def _sorted_rows(df: pd.DataFrame, spec: Spec, source: str) -> tuple[_Table, _Rows]:
    """The numeric columns of ``df``, its rows sorted by episode (stable)."""
    t_raw = column_as_float(df[spec.time], spec.time, source, is_time=True)
    data_cols = [*spec.states, *spec.actions]
    values = np.empty((len(df), len(data_cols)), dtype=np.float64)
    for j, c in enumerate(data_cols):
        values[:, j] = column_as_float(df[c], c, source, is_time=False)
    codes, labels = _episode_codes(df, spec, source)
    order = np.argsort(codes, kind="stable")
    counts = np.bincount(codes, minlength=len(labels))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    pos = np.arange(len(df)) - np.repeat(starts, counts)  # row within its episode
    rows = _Rows(t_raw[order], values[order], codes[order], pos, order)
    return _Table(spec, source, labels), rows


def _check_ragged(table: _Table, rows: _Rows) -> None:
    """``FormatError`` if a state or action column is empty in whole episodes."""
    if not rows.values.shape[1]:
        return
    n_ep = len(table.labels)
    counts = np.bincount(rows.code, minlength=n_ep)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    finite = np.isfinite(rows.values).astype(np.int64)
    per_ep = np.add.reduceat(finite, starts, axis=0)  # (n_ep, n_cols)
    for j, c in enumerate(table.data_columns):
        empty = np.flatnonzero(per_ep[:, j] == 0)
        if not empty.size:
            continue
        is_state = j < len(table.spec.states)
        role, key = ("State", "states") if is_state else ("Action", "actions")
        if empty.size == n_ep:
            raise FormatError(
                f"{role} column `{c}` of {table.source} has no values at all (every row is "
                f"empty or NaN); leave it out of `{key}`."
            )
        shown = ", ".join(repr(table.labels[k]) for k in empty[:5]) + (
            ", ..." if empty.size > 5 else ""
        )
        raise FormatError(
            f"{role} column `{c}` of {table.source} is empty in {empty.size} of {n_ep} episodes "
            f"(labels {shown}) but has values in the others: the columns are ragged. Every "
            f"episode needs every column: fill `{c}` in those episodes, drop those "
            f"episodes, or leave `{c}` out of `{key}`."
        )


def _missing_values(table: _Table, rows: _Rows, *, dropna: bool, allow_nan: bool) -> _Rows:
    """The rows to keep: all, or without missing values (``dropna``); else ``DataError``."""
    finite = np.isfinite(rows.values)
    t_fin = np.isfinite(rows.t)
    row_ok = finite.all(axis=1)
    if dropna:
        keep = t_fin & row_ok
        return rows if keep.all() else rows.take(keep)
    if not t_fin.all():
        bad = np.flatnonzero(~t_fin)
        i = bad[np.argmin(rows.file_row[bad])]
        kind = "NaN" if np.isnan(rows.t[i]) else "inf"
        raise DataError(
            f"{table.episode(rows.code[i])} has {kind} in time column `{table.spec.time}` at "
            f"row {rows.pos[i]} (row {rows.file_row[i]} of {table.source}); {bad.size} rows "
            f"have no valid time. Times cannot be interpolated: pass `dropna=True` to drop "
            f"those rows."
        )
    if not allow_nan and not row_ok.all():
        bad_rows = np.flatnonzero(~row_ok)
        i = bad_rows[np.argmin(rows.file_row[bad_rows])]
        j = int(np.flatnonzero(~finite[i])[0])
        kind = "NaN" if np.isnan(rows.values[i, j]) else "inf"
        n_vals = int((~finite).sum())
        n_eps = len(np.unique(rows.code[bad_rows]))
        raise DataError(
            f"{table.episode(rows.code[i])} has {kind} in column `{table.data_columns[j]}` at "
            f"row {rows.pos[i]} (row {rows.file_row[i]} of {table.source}); {n_vals} missing "
            f"values in {bad_rows.size} rows of {n_eps} episode(s) in all. To clean them, "
            f"{_CLEAN_HINT}."
        )
    return rows


def _episode_lengths(table: _Table, rows: _Rows, *, dropped: bool) -> np.ndarray:
    """(n_ep,) samples per episode; ``DataError`` if one has fewer than ``MIN_SAMPLES``."""
    counts = np.bincount(rows.code, minlength=len(table.labels))
    short = np.flatnonzero(counts < MIN_SAMPLES)
    if not short.size:
        return counts
    k = int(short[0])
    after = " after dropping rows with missing values" if dropped else ""
    file_rows = rows.file_row[rows.code == k]
    where = f" (row {int(file_rows[0])} of {table.source})" if file_rows.size == 1 else ""
    others = f"; {short.size} episodes in all are too short" if short.size > 1 else ""
    if table.spec.episode:
        fix = f"Drop those episodes or check the episode column `{table.spec.episode}`."
    else:
        fix = "The table (one episode, no episode column) needs more rows."
    raise DataError(
        f"{table.episode(k)} has {int(counts[k])} sample(s){where}{after}; an episode needs "
        f"at least {MIN_SAMPLES} samples{others}. {fix}"
    )


def _check_time_order(table: _Table, rows: _Rows) -> None:
    """``DataError`` naming the first (in file order) unsorted or duplicate time of an episode."""
    if len(rows.t) < 2:
        return
    d = np.diff(rows.t)
    bad = np.flatnonzero((rows.code[1:] == rows.code[:-1]) & ~(d > 0))
    if not bad.size:
        return
    spec, pos, file_row = table.spec, rows.pos, rows.file_row
    a = int(bad[np.argmin(file_row[bad + 1])])
    b = a + 1
    name = table.episode(rows.code[a])
    ep_hint = (
        f" or check the episode column `{spec.episode}` (two episodes with one label?)"
        if spec.episode
        else " or map the column that separates episodes as `episode`"
    )
    by = [spec.episode, spec.time] if spec.episode else [spec.time]
    if d[a] == 0:
        raise DataError(
            f"{name} has the duplicate timestamp {spec.time}={float(rows.t[b])!r} at rows "
            f"{pos[a]} and {pos[b]} (rows {file_row[a]} and {file_row[b]} of {table.source}); "
            f"each time may appear once per episode. Drop duplicates, e.g. "
            f"`df.drop_duplicates(subset={by})`,{ep_hint}."
        )
    raise DataError(
        f"{name} is not sorted by time: row {pos[b]} has {spec.time}={float(rows.t[b])!r} after "
        f"{spec.time}={float(rows.t[a])!r} at row {pos[a]} (rows {file_row[b]} and "
        f"{file_row[a]} of {table.source}); times must increase strictly within an episode. "
        f"Sort the rows, e.g. `df.sort_values({by})`,{ep_hint}."
    )


def _build(table: _Table, rows: _Rows, counts: np.ndarray, *, allow_nan: bool) -> list[Trajectory]:
    """One Trajectory per episode, times in seconds."""
    spec = table.spec
    t_out = rows.t * spec.time_scale if spec.time_scale != 1.0 else rows.t
    n_x = len(spec.states)
    starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    episodes = []
    for k, label in enumerate(table.labels):
        sl = slice(int(starts[k]), int(starts[k + 1]))
        try:
            episodes.append(
                Trajectory(
                    t=np.ascontiguousarray(t_out[sl]),
                    x=np.ascontiguousarray(rows.values[sl, :n_x]),
                    u=np.ascontiguousarray(rows.values[sl, n_x:]),
                    state_names=spec.state_names,
                    action_names=spec.action_names,
                    meta=_meta_for(spec, label),
                    allow_nan=allow_nan,
                )
            )
        except HybridWMError as exc:
            raise type(exc)(f"{episode_name(label)} of {table.source}: {exc}") from None
    return episodes


def _meta_for(spec: Spec, label: Any) -> dict[str, Any]:
    if spec.from_schema:
        meta = spec.meta or ()
        if isinstance(label, (int, float)) and not isinstance(label, bool):
            if float(label).is_integer() and 0 <= int(label) < len(meta):
                return dict(meta[int(label)])
        return {}
    out: dict[str, Any] = {"episode": label} if spec.episode else {}
    if spec.mapping is not None:
        out["columns"] = copy.deepcopy(spec.mapping)
    return out


def _constant_column_notes(table: _Table, rows: _Rows) -> list[str]:
    """A note for every state or action column that holds one value over the whole table."""
    if not rows.values.shape[1]:
        return []
    fin = np.isfinite(rows.values)
    hi = np.where(fin, rows.values, -np.inf).max(axis=0)
    lo = np.where(fin, rows.values, np.inf).min(axis=0)
    return [
        f"{'State' if j < len(table.spec.states) else 'Action'} column "
        f"`{table.data_columns[j]}` of {table.source} is constant (= {float(hi[j])!r}) over all "
        f"{len(table.labels)} episode(s); it carries no information about the dynamics. Check "
        f"the log, or leave it out of the mapped columns."
        for j in np.flatnonzero((hi == lo) & fin.any(axis=0))
    ]
