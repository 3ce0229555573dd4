"""Read and write TrajectorySets as Parquet, CSV or NPZ files.

Every format holds the same long-format table, one row per sample::

    episode, t, <state columns...>, <action columns...>

plus the hybridwm schema (which columns are states and which are actions, and each episode's
``meta``; see :mod:`hybridwm.data.frames`), so that ``read_trajectories(write_trajectories(ts,
path))`` gives back ``ts`` exactly: float64 bit for bit, names, episode order and metadata.

Where the schema lives:

* **Parquet** (``.parquet``, ``.pq``): in the file's key-value metadata under the key
  ``hybridwm``. ``pd.read_parquet(path)`` reads the table as usual.
* **CSV** (``.csv``): in a first comment line ``# hybridwm {...json...}``; the rest is a plain
  CSV table written by pandas (floats in shortest round-trip form). Read it with pandas as
  ``pd.read_csv(path, comment="#")`` (or ``skiprows=1`` if a column name contains ``#``).
  The schema line is a single line of JSON; ``json.loads(line[len("# hybridwm "):])``.
* **NPZ** (``.npz``): arrays ``t`` (N,), ``x`` (N, n_x), ``u`` (N, n_u), ``lengths`` (n,)
  (samples per episode, in order) and ``hybridwm_schema``, a 0-d string array. It is always
  loaded with ``allow_pickle=False``.

Files from elsewhere (no schema) are read with an explicit :class:`ColumnMapping` passed as
``columns=``. For an NPZ without schema, its 1-D arrays of equal length are the columns.

Decisions:

* Without ``columns=``, columns of a hybridwm file that the schema does not list are ignored
  with a ``UserWarning`` (a user may have added notes with pandas). With ``columns=``, the
  mapping says what to read and unmapped columns are ignored silently.
* Episodes need at least 2 samples, on reading and on writing (so that anything written can
  be read back); ``DataError`` otherwise.
* A state or action column that is constant over the whole file gives a ``UserWarning``.
* Missing values (NaN, ±inf) raise ``DataError`` naming episode, column and row, unless
  ``dropna=True`` (drop those rows) or ``allow_nan=True`` (keep them for ``interpolate()``).
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hybridwm._io import atomic_path
from hybridwm.data.columns import ColumnMapping
from hybridwm.data.frames import (
    MIN_SAMPLES,
    SCHEMA_KEY,
    Spec,
    check_scale,
    frame_to_set,
    make_schema,
    parse_schema,
    set_to_frame,
)
from hybridwm.data.trajectory import Trajectory, TrajectorySet
from hybridwm.errors import DataError, FormatError, HybridWMError
from hybridwm.registry import Registry

__all__ = [
    "FORMATS",
    "SUFFIXES",
    "read_schema",
    "read_trajectories",
    "write_trajectories",
]

#: File suffix → format name.
SUFFIXES: dict[str, str] = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".npz": "npz"}
#: Format names accepted by ``format=``.
FORMATS: Registry[str] = Registry("trajectory file format", "format")
for _name in ("csv", "npz", "parquet"):
    FORMATS.register(_name, _name)

_NPZ_SCHEMA = "hybridwm_schema"
_CSV_PREFIX = "# hybridwm "
_PANDAS_MAJOR = int(pd.__version__.split(".")[0])


def _resolve_format(path: Path, format: str | None) -> str:
    if format is not None:
        return (
            FORMATS[str(format).lower().lstrip(".")] if isinstance(format, str) else FORMATS[format]
        )
    fmt = SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        supported = ", ".join(f"{s!r}" for s in SUFFIXES)
        raise FormatError(
            f"Cannot tell the format of {str(path)!r} from its suffix {path.suffix!r}. Supported "
            f"suffixes: {supported}; or pass `format=` (one of {FORMATS.names()})."
        )
    return fmt


def _source(path: Path) -> str:
    return f"the file {str(path)!r}"


# ---------------------------------------------------------------------------------- readers
def _check_readable(path: Path) -> None:
    if not path.exists():
        raise FormatError(f"File {str(path)!r} does not exist. Check the path.")
    if not path.is_file():
        raise FormatError(f"{str(path)!r} is not a file (a directory?). Pass the path of a file.")
    if path.stat().st_size == 0:
        raise FormatError(f"File {str(path)!r} is empty (0 bytes); it holds no trajectories.")


def _read_csv(path: Path) -> tuple[pd.DataFrame, str | None]:
    kwargs: dict[str, Any] = {"float_precision": "round_trip"} if _PANDAS_MAJOR < 3 else {}
    with open(path, "rb") as f:
        first = f.readline()
        schema: str | None = None
        if first.startswith(_CSV_PREFIX.encode()):
            try:
                schema = first[len(_CSV_PREFIX) :].decode("utf-8").strip()
            except UnicodeDecodeError as exc:
                raise FormatError(
                    f"The hybridwm header line of {_source(path)} is not UTF-8: {exc}."
                ) from None
        else:
            f.seek(0)
        # The table is parsed from the handle after the schema line, so quotes inside the
        # JSON never reach the CSV tokenizer.
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", pd.errors.ParserWarning)
                df = pd.read_csv(f, low_memory=False, encoding="utf-8", **kwargs)
        except pd.errors.EmptyDataError:
            raise FormatError(
                f"{_source(path).capitalize()} has no header and no data rows; it holds no "
                f"trajectories."
            ) from None
        except Exception as exc:  # any parser failure of a corrupt file
            raise FormatError(
                f"Cannot read {_source(path)} as CSV ({type(exc).__name__}: {exc}). Check that "
                f"it is a UTF-8 comma-separated table, or pass `format=` if it is something else."
            ) from None
    return df, schema


def _read_parquet(path: Path) -> tuple[pd.DataFrame, bytes | None]:
    try:
        import pyarrow.parquet as pq

        with pq.ParquetFile(path) as pf:
            table = pf.read()
        md = table.schema.metadata or {}
        schema = md.get(SCHEMA_KEY.encode())
        df = table.to_pandas()
    except HybridWMError:
        raise
    except Exception as exc:  # pyarrow raises many types for corrupt files
        raise FormatError(
            f"Cannot read {_source(path)} as Parquet ({type(exc).__name__}: {exc}). The file "
            f"is corrupt or not Parquet; pass `format=` if it is something else."
        ) from None
    return df, schema


def _read_npz(path: Path) -> tuple[dict[str, np.ndarray], str | None]:
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic.startswith(b"\x93NUMPY"):
        raise FormatError(
            f"{_source(path).capitalize()} holds a single .npy array, not an .npz archive of "
            f"named arrays. Use TrajectorySet.from_arrays(...) for raw arrays."
        )
    if not magic.startswith(b"PK"):
        raise FormatError(
            f"Cannot read {_source(path)} as NPZ: it is not a zip archive (it starts with "
            f"{magic!r}). Pass `format=` if it is something else."
        )
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: np.asarray(z[k]) for k in z.files}
    except HybridWMError:
        raise
    except ValueError as exc:
        if "pickle" in str(exc):
            raise FormatError(
                f"{_source(path).capitalize()} holds object arrays, which need pickle; hybridwm "
                f"loads NPZ with allow_pickle=False for safety. Save numeric and string arrays only."
            ) from None
        raise FormatError(f"Cannot read {_source(path)} as NPZ ({exc}).") from None
    except Exception as exc:  # zipfile / zlib / OS errors of a corrupt archive
        raise FormatError(
            f"Cannot read {_source(path)} as NPZ ({type(exc).__name__}: {exc}). The file is "
            f"corrupt or not an .npz archive; pass `format=` if it is something else."
        ) from None
    schema = None
    if _NPZ_SCHEMA in arrays:
        s = arrays.pop(_NPZ_SCHEMA)
        if s.ndim != 0 or s.dtype.kind != "U":
            raise FormatError(
                f"Entry {_NPZ_SCHEMA!r} of {_source(path)} must be a 0-d string array. Got "
                f"dtype {s.dtype} and shape {s.shape}."
            )
        schema = str(s[()])
    return arrays, schema


def _npz_schema_frame(arrays: dict[str, np.ndarray], spec: Spec, path: Path) -> pd.DataFrame:
    """The long table of an NPZ written by hybridwm (t, x, u, lengths arrays)."""
    src = _source(path)
    need = ["t", "x", "u", "lengths"]
    missing = [k for k in need if k not in arrays]
    if missing:
        raise FormatError(
            f"{src.capitalize()} has a hybridwm schema but lacks the array(s) {missing}. "
            f"Arrays present: {sorted(arrays)}."
        )
    t, x, u, lengths = (arrays[k] for k in need)
    n_x, n_u = len(spec.states), len(spec.actions)
    for name, arr, ndim in (("t", t, 1), ("x", x, 2), ("u", u, 2), ("lengths", lengths, 1)):
        if arr.ndim != ndim or arr.dtype.kind not in "biuf":
            raise FormatError(
                f"Array {name!r} of {src} must be a numeric {ndim}-D array. Got dtype "
                f"{arr.dtype} and shape {arr.shape}."
            )
    n = t.shape[0]
    if x.shape != (n, n_x) or u.shape != (n, n_u):
        raise FormatError(
            f"Arrays of {src} disagree with its schema: expected x {(n, n_x)} and u "
            f"{(n, n_u)} for {n} samples of states {list(spec.states)} and actions "
            f"{list(spec.actions)}. Got x {x.shape} and u {u.shape}."
        )
    if lengths.dtype.kind not in "iu" or (lengths < 0).any() or int(lengths.sum()) != n:
        raise FormatError(
            f"Array 'lengths' of {src} must hold non-negative integers summing to the "
            f"{n} samples of 't'. Got {lengths.tolist()[:10]} (sum {lengths.sum()})."
        )
    data: dict[str, np.ndarray] = {}
    if spec.episode:
        data[spec.episode] = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    data[spec.time] = t
    for j, c in enumerate(spec.states):
        data[c] = x[:, j]
    for j, c in enumerate(spec.actions):
        data[c] = u[:, j]
    return pd.DataFrame(data)


def _npz_columns_frame(arrays: dict[str, np.ndarray], spec: Spec, path: Path) -> pd.DataFrame:
    """The table of a foreign NPZ: its 1-D arrays named by the mapping are the columns."""
    src = _source(path)
    flat = {k: v for k, v in arrays.items() if v.ndim == 1}
    missing = [c for c in spec.columns if c not in arrays]
    if missing:
        raise FormatError(
            f"{src.capitalize()} lacks the array(s) {missing} named by the column mapping. "
            f"Available 1-D arrays: {sorted(flat)}."
        )
    not_flat = [f"{c} {arrays[c].shape}" for c in spec.columns if arrays[c].ndim != 1]
    if not_flat:
        raise FormatError(
            f"Arrays named by the column mapping must be 1-D columns of {src}; got {not_flat}. "
            f"For batched arrays t (T,), x (n, T, n_x), u (n, T, n_u) use "
            f"`TrajectorySet.from_arrays(...)`."
        )
    lens = {c: int(arrays[c].shape[0]) for c in spec.columns}
    if len(set(lens.values())) > 1:
        raise FormatError(
            f"The mapped arrays of {src} have different lengths {lens}; every column needs one "
            f"value per sample."
        )
    return pd.DataFrame({c: arrays[c] for c in spec.columns})


def _no_schema_error(path: Path, columns: list[str]) -> FormatError:
    shown = columns[:30] + (["..."] if len(columns) > 30 else [])
    return FormatError(
        f"{_source(path).capitalize()} has no hybridwm schema (it was not written by hybridwm), "
        f"so it is not known which columns are the time, states, actions and episode. Pass "
        f"`columns=ColumnMapping(time=..., states=[...], actions=[...], episode=...)` or the "
        f"path of a TOML file with those fields. Columns in the file: {shown}."
    )


def _read(
    path: str | os.PathLike[str],
    *,
    columns: ColumnMapping | Mapping[str, Any] | str | os.PathLike[str] | None,
    format: str | None,
    time_scale: float,
    dropna: bool,
    allow_nan: bool,
) -> tuple[TrajectorySet, list[str]]:
    if not isinstance(path, (str, os.PathLike)):
        raise FormatError(f"`path` must be a file path (str or Path). Got {type(path).__name__}.")
    p = Path(path)
    fmt = _resolve_format(p, format)
    time_scale = check_scale(time_scale, "time_scale")
    mapping = ColumnMapping.coerce(columns) if columns is not None else None
    _check_readable(p)
    if fmt == "npz":
        arrays, schema = _read_npz(p)
        if mapping is not None:
            spec = Spec.from_mapping(mapping, time_scale)
            df = _npz_columns_frame(arrays, spec, p)
        elif schema is not None:
            spec = parse_schema(schema, _source(p), time_scale)
            df = _npz_schema_frame(arrays, spec, p)
        else:
            raise _no_schema_error(p, [f"{k} {v.shape}" for k, v in arrays.items()])
    else:
        df, schema = _read_csv(p) if fmt == "csv" else _read_parquet(p)
        if mapping is not None:
            spec = Spec.from_mapping(mapping, time_scale)
        elif schema is not None:
            spec = parse_schema(schema, _source(p), time_scale)
        else:
            raise _no_schema_error(p, [str(c) for c in df.columns])
    return frame_to_set(df, spec, source=_source(p), dropna=dropna, allow_nan=allow_nan)


def read_trajectories(
    path: str | os.PathLike[str],
    *,
    columns: ColumnMapping | Mapping[str, Any] | str | os.PathLike[str] | None = None,
    format: str | None = None,
    time_scale: float = 1.0,
    dropna: bool = False,
    allow_nan: bool = False,
) -> TrajectorySet:
    """Read a TrajectorySet from a Parquet, CSV or NPZ file.

    Args:
        path: the file. Its suffix (``.parquet``, ``.pq``, ``.csv``, ``.npz``) gives the format
            unless ``format`` is given.
        columns: how to read a file from elsewhere: a :class:`ColumnMapping`, a dict of its
            fields, or the path of a TOML/JSON file holding them. ``None`` uses the hybridwm
            schema stored in the file (files written by :func:`write_trajectories`).
        format: ``"parquet"``, ``"csv"`` or ``"npz"``, overriding the suffix.
        time_scale: factor from the file's time unit to seconds (e.g. ``0.001`` for ms). Give
            it here or in the mapping, not both.
        dropna: drop rows with a missing value (NaN/±inf) in the time, state or action
            columns before building episodes.
        allow_nan: keep missing state/action values; clean the result with ``.interpolate()``
            or ``.dropna()``. Missing times are never kept.

    Returns:
        The episodes in order of first appearance in the file. With a mapping and an episode
        column, each trajectory's ``meta`` is ``{"episode": <label in the file>}``.

    Raises:
        UnknownNameError: an unknown ``format`` name.
        FormatError: unknown suffix, missing/empty/corrupt file, no schema and no ``columns``,
            missing or non-numeric columns, ragged columns.
        DataError: missing values, unsorted or duplicate times, episodes under 2 samples.
        ConfigError: an invalid ``columns`` mapping or ``time_scale``.

    Warns:
        UserWarning: for constant columns and for unlisted columns of a hybridwm file.
    """
    return _read_and_warn(
        path,
        columns=columns,
        format=format,
        time_scale=time_scale,
        dropna=dropna,
        allow_nan=allow_nan,
    )


def _read_and_warn(path: str | os.PathLike[str], **options: Any) -> TrajectorySet:
    """:func:`_read`, with its notes issued as warnings at the caller of the public reader
    (:func:`read_trajectories` or :meth:`TrajectorySet.read`) that calls this."""
    ts, notes = _read(path, **options)
    for note in notes:
        warnings.warn(note, UserWarning, stacklevel=3)
    return ts


def read_schema(
    path: str | os.PathLike[str], *, format: str | None = None
) -> dict[str, Any] | None:
    """The hybridwm schema stored in a trajectory file, or ``None`` for a foreign file.

    Raises:
        FormatError: if the file is missing, empty, corrupt or its schema is not valid JSON.
    """
    p = Path(path)
    fmt = _resolve_format(p, format)
    _check_readable(p)
    if fmt == "npz":
        raw: Any = _read_npz(p)[1]
    elif fmt == "csv":
        raw = _read_csv(p)[1]
    else:
        raw = _read_parquet(p)[1]
    if raw is None:
        return None
    parse_schema(raw, _source(p))
    return json.loads(raw)


# ---------------------------------------------------------------------------------- writers
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


def write_trajectories(
    data: TrajectorySet | Trajectory | Iterable[Trajectory],
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
) -> Path:
    """Write trajectories to a Parquet, CSV or NPZ file, atomically.

    The file is written to a temporary file next to ``path`` and renamed onto it only when
    complete, so an interrupted write leaves an existing ``path`` untouched.

    Args:
        data: the trajectories (a set, one trajectory, or a list of them).
        path: destination; its suffix gives the format unless ``format`` is given. Parent
            folders are created.
        format: ``"parquet"``, ``"csv"`` or ``"npz"``, overriding the suffix.

    Returns:
        ``path`` as a Path.

    Raises:
        FormatError: unknown suffix.
        UnknownNameError: an unknown ``format`` name.
        DataError: an episode has fewer than 2 samples, a state and an action share a name,
            or a ``meta`` is not JSON-serialisable.
    """
    ts = _as_set(data)
    p = Path(path)
    fmt = _resolve_format(p, format)
    short = np.flatnonzero(ts.lengths < MIN_SAMPLES)
    if short.size:
        raise DataError(
            f"Trajectory {int(short[0])} has {int(ts.lengths[short[0]])} sample(s); files hold "
            f"episodes of at least {MIN_SAMPLES} samples so that they can be read back. Drop or "
            f"extend it ({short.size} such episode(s))."
        )
    if fmt == "npz":
        schema = make_schema(ts)
        text = json.dumps(schema, allow_nan=False)
        with atomic_path(p) as tmp, open(tmp, "wb") as f:
            np.savez_compressed(
                f,
                **{_NPZ_SCHEMA: np.array(text)},
                t=np.concatenate([tr.t for tr in ts]),
                x=np.concatenate([tr.x for tr in ts], axis=0),
                u=np.concatenate([tr.u for tr in ts], axis=0),
                lengths=ts.lengths.astype(np.int64),
            )
        return p
    df = set_to_frame(ts)
    schema = df.attrs.pop(SCHEMA_KEY)
    text = json.dumps(schema, allow_nan=False)
    if fmt == "csv":
        with atomic_path(p) as tmp, open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(_CSV_PREFIX + text + "\n")
            df.to_csv(f, index=False, lineterminator="\n")
        return p
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(df, preserve_index=False)
    md = dict(table.schema.metadata or {})
    md[SCHEMA_KEY.encode()] = text.encode("utf-8")
    table = table.replace_schema_metadata(md)
    with atomic_path(p) as tmp:
        pq.write_table(table, tmp)
    return p
