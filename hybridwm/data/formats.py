"""The file formats of trajectories: Parquet, CSV and NPZ, read into and written from episodes.

Every format holds the same long-format table, one row per sample::

    episode, t, <state columns...>, <action columns...>

plus the hybridwm schema (which columns are states and which are actions, and each episode's
``meta``; see :mod:`hybridwm.data.schema`), so that ``read_trajectories(write_trajectories(ts,
path))`` gives back ``ts`` exactly: float64 bit for bit, names, episode order and metadata.
``TrajectorySet.read`` and ``TrajectorySet.write`` (and the functions of :mod:`hybridwm.data.io`
over them) call :func:`read_episodes` and :func:`write_episodes` of this module.

Where the schema lives:

* **Parquet** (``.parquet``, ``.pq``): in the file's key-value metadata under the key
  ``hybridwm``. ``pd.read_parquet(path)`` reads the table as usual.
* **CSV** (``.csv``): in a first comment line ``# hybridwm {...json...}``; the rest is a plain
  CSV table written by pandas (floats in shortest round-trip form). Read it with pandas as
  ``pd.read_csv(path, comment="#")`` (or ``skiprows=1`` if a column name contains ``#``).
  The schema line is a single line of JSON; ``json.loads(line[len("# hybridwm "):])``.
  A UTF-8 byte-order mark before it (a file saved again as "CSV UTF-8" by Excel) is skipped.
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
* Episodes read through a mapping remember it: ``meta["columns"]`` holds the mapping's dict
  (with the time scale in force), so a fitted model can read the same file again.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hybridwm._io import atomic_path
from hybridwm.data.checks import capitalized, require_keys
from hybridwm.data.columns import ColumnMapping
from hybridwm.data.episode import MIN_SAMPLES, Trajectory
from hybridwm.data.frames import episodes_to_frame, frame_to_episodes
from hybridwm.data.schema import (
    SCHEMA_KEY,
    Spec,
    check_scale,
    make_schema,
    parse_schema,
)
from hybridwm.errors import DataError, FormatError, HybridWMError
from hybridwm.registry import Registry

__all__ = ["FORMATS", "SUFFIXES", "read_episodes", "read_schema", "write_episodes"]

#: File suffix → format name.
SUFFIXES: dict[str, str] = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".npz": "npz"}
#: Format names accepted by ``format=``.
FORMATS: Registry[str] = Registry("trajectory file format", "format")
for _name in ("csv", "npz", "parquet"):
    FORMATS.register(_name, _name)

_NPZ_SCHEMA = "hybridwm_schema"
_CSV_PREFIX = "# hybridwm "
_BOM = "\ufeff".encode()
_PANDAS_MAJOR = int(pd.__version__.split(".")[0])
_NPZ_FIX = "The file is corrupt or not an .npz archive; pass `format=` if it is something else."


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


def _cannot_read(path: Path, fmt: str, exc: Exception, fix: str) -> FormatError:
    """The error for a file that the ``fmt`` parser refused (corrupt, or another format)."""
    return FormatError(f"Cannot read {_source(path)} as {fmt} ({type(exc).__name__}: {exc}). {fix}")


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
        # A UTF-8 byte-order mark (Excel's "CSV UTF-8") is skipped, as encoding utf-8-sig does.
        start = len(_BOM) if f.read(len(_BOM)) == _BOM else 0
        f.seek(start)
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
            f.seek(start)
        # The table is parsed from the handle after the schema line, so quotes inside the
        # JSON never reach the CSV tokenizer.
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", pd.errors.ParserWarning)
                df = pd.read_csv(f, low_memory=False, encoding="utf-8", **kwargs)
        except pd.errors.EmptyDataError:
            raise FormatError(
                f"{capitalized(_source(path))} has no header and no data rows; it holds no "
                f"trajectories."
            ) from None
        except Exception as exc:  # any parser failure of a corrupt file
            fix = "Check that it is a UTF-8 comma-separated table, or pass `format=` if it is "
            raise _cannot_read(path, "CSV", exc, fix + "something else.") from None
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
        fix = "The file is corrupt or not Parquet; pass `format=` if it is something else."
        raise _cannot_read(path, "Parquet", exc, fix) from None
    return df, schema


def _read_npz(path: Path) -> tuple[dict[str, np.ndarray], str | None]:
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic.startswith(b"\x93NUMPY"):
        raise FormatError(
            f"{capitalized(_source(path))} holds a single .npy array, not an .npz archive of "
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
                f"{capitalized(_source(path))} holds object arrays, which need pickle; hybridwm "
                f"loads NPZ with allow_pickle=False for safety. Save numeric and string arrays only."
            ) from None
        raise _cannot_read(path, "NPZ", exc, _NPZ_FIX) from None
    except Exception as exc:  # zipfile / zlib / OS errors of a corrupt archive
        raise _cannot_read(path, "NPZ", exc, _NPZ_FIX) from None
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
    require_keys(
        arrays,
        need,
        lambda missing: FormatError(
            f"{capitalized(src)} has a hybridwm schema but lacks the array(s) {missing}. "
            f"Arrays present: {sorted(arrays)}."
        ),
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
    require_keys(
        arrays,
        spec.columns,
        lambda missing: FormatError(
            f"{capitalized(src)} lacks the array(s) {missing} named by the column mapping. "
            f"Available 1-D arrays: {sorted(flat)}."
        ),
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
        f"{capitalized(_source(path))} has no hybridwm schema (it was not written by hybridwm), "
        f"so it is not known which columns are the time, states, actions and episode. Pass "
        f"`columns=ColumnMapping(time=..., states=[...], actions=[...], episode=...)` or the "
        f"path of a TOML file with those fields. Columns in the file: {shown}."
    )


def _spec(
    path: Path, mapping: ColumnMapping | None, schema: Any, time_scale: float, columns: list[str]
) -> Spec:
    """The column roles: the user's mapping, else the schema stored in the file."""
    if mapping is not None:
        return Spec.from_mapping(mapping, time_scale, remember=True)
    if schema is not None:
        return parse_schema(schema, _source(path), time_scale)
    raise _no_schema_error(path, columns)


def _read_table(
    path: Path, fmt: str, mapping: ColumnMapping | None, time_scale: float
) -> tuple[pd.DataFrame, Spec]:
    """The long table held by the file and the roles of its columns."""
    if fmt != "npz":
        df, schema = _read_csv(path) if fmt == "csv" else _read_parquet(path)
        return df, _spec(path, mapping, schema, time_scale, [str(c) for c in df.columns])
    arrays, schema = _read_npz(path)
    spec = _spec(path, mapping, schema, time_scale, [f"{k} {v.shape}" for k, v in arrays.items()])
    if mapping is not None:
        return _npz_columns_frame(arrays, spec, path), spec
    return _npz_schema_frame(arrays, spec, path), spec


def read_episodes(
    path: str | os.PathLike[str],
    *,
    columns: ColumnMapping | Mapping[str, Any] | str | os.PathLike[str] | None,
    format: str | None,
    time_scale: float,
    dropna: bool,
    allow_nan: bool,
) -> list[Trajectory]:
    """The episodes of a trajectory file; the arguments are those of :meth:`TrajectorySet.read`."""
    if not isinstance(path, (str, os.PathLike)):
        raise FormatError(f"`path` must be a file path (str or Path). Got {type(path).__name__}.")
    p = Path(path)
    fmt = _resolve_format(p, format)
    time_scale = check_scale(time_scale, "time_scale")
    mapping = ColumnMapping.coerce(columns) if columns is not None else None
    _check_readable(p)
    df, spec = _read_table(p, fmt, mapping, time_scale)
    return frame_to_episodes(df, spec, source=_source(p), dropna=dropna, allow_nan=allow_nan)


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
def _write_npz(episodes: Sequence[Trajectory], path: Path) -> None:
    text = json.dumps(make_schema(episodes), allow_nan=False)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(
            f,
            **{_NPZ_SCHEMA: np.array(text)},
            t=np.concatenate([tr.t for tr in episodes]),
            x=np.concatenate([tr.x for tr in episodes], axis=0),
            u=np.concatenate([tr.u for tr in episodes], axis=0),
            lengths=np.array([len(tr) for tr in episodes], dtype=np.int64),
        )


def _write_csv(episodes: Sequence[Trajectory], path: Path) -> None:
    df = episodes_to_frame(episodes)
    text = json.dumps(df.attrs.pop(SCHEMA_KEY), allow_nan=False)
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as f:
        f.write(_CSV_PREFIX + text + "\n")
        df.to_csv(f, index=False, lineterminator="\n")


def _write_parquet(episodes: Sequence[Trajectory], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    df = episodes_to_frame(episodes)
    text = json.dumps(df.attrs.pop(SCHEMA_KEY), allow_nan=False)
    table = pa.Table.from_pandas(df, preserve_index=False)
    md = dict(table.schema.metadata or {})
    md[SCHEMA_KEY.encode()] = text.encode("utf-8")
    table = table.replace_schema_metadata(md)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


_WRITERS: dict[str, Callable[[Sequence[Trajectory], Path], None]] = {
    "csv": _write_csv,
    "npz": _write_npz,
    "parquet": _write_parquet,
}


def write_episodes(
    episodes: Sequence[Trajectory], path: str | os.PathLike[str], *, format: str | None = None
) -> Path:
    """Write episodes sharing names (a ``TrajectorySet``) to a file, atomically.

    See :meth:`TrajectorySet.write` for the arguments and errors.
    """
    p = Path(path)
    fmt = _resolve_format(p, format)
    lengths = np.array([len(tr) for tr in episodes])
    short = np.flatnonzero(lengths < MIN_SAMPLES)
    if short.size:
        raise DataError(
            f"Trajectory {int(short[0])} has {int(lengths[short[0]])} sample(s); files hold "
            f"episodes of at least {MIN_SAMPLES} samples so that they can be read back. Drop or "
            f"extend it ({short.size} such episode(s))."
        )
    _WRITERS[fmt](episodes, p)
    return p
