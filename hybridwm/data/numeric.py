"""Columns of any dtype as float64 values, with a message naming the first bad row.

Numbers, numeric strings (parsed exactly with Python's ``float``), missing markers (None,
NA, NaT: NaN) and, for the time column, datetimes and timedeltas (seconds) are accepted;
anything else (text, complex numbers, nested lists) raises ``FormatError``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from hybridwm.errors import FormatError

__all__ = ["column_as_float"]


def column_as_float(series: pd.Series, col: str, source: str, *, is_time: bool) -> np.ndarray:
    """Column ``col`` as float64 (N,), or ``FormatError`` naming the first non-numeric row.

    Args:
        series: the column, N values of any dtype.
        col: its name, for messages.
        source: how messages name the table, e.g. ``"the file 'log.csv'"``.
        is_time: the column holds times: datetimes and timedeltas become seconds.
    """
    if is_time:
        seconds = _as_seconds(series, col, source)
        if seconds is not None:
            return seconds
    dtype = series.dtype
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
    fast = _all_floats(values)
    return fast if fast is not None else _value_by_value(values, col, source, is_time=is_time)


def _as_seconds(series: pd.Series, col: str, source: str) -> np.ndarray | None:
    """A datetime column as seconds since the epoch, a timedelta column as seconds, else None."""
    dtype = series.dtype
    try:
        if pd.api.types.is_datetime64_any_dtype(dtype):
            tz = getattr(dtype, "tz", None)
            epoch = pd.Timestamp(0, tz="UTC") if tz is not None else pd.Timestamp(0)
            return (series - epoch).dt.total_seconds().to_numpy(np.float64, na_value=np.nan)
        if pd.api.types.is_timedelta64_dtype(dtype):
            return series.dt.total_seconds().to_numpy(np.float64, na_value=np.nan)
    except (TypeError, ValueError, OverflowError, AttributeError) as exc:
        raise FormatError(
            f"Time column `{col}` of {source} holds dates that cannot be converted to seconds: "
            f"{exc}."
        ) from None
    return None


def _is_missing(v: Any) -> bool:
    return v is None or v is pd.NA or v is pd.NaT


def _all_floats(values: np.ndarray) -> np.ndarray | None:
    """(N,) objects as float64 in one pass, or None if some value is not a plain number."""
    try:
        if any(isinstance(v, (complex, np.complexfloating)) for v in values):
            return None
        with np.errstate(over="ignore", invalid="ignore"):
            fast = np.asarray([np.nan if _is_missing(v) else v for v in values], dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        return None
    return fast if fast.shape == values.shape else None  # nested sequences add dimensions


def _float_or_none(v: Any) -> float | None:
    if isinstance(v, (complex, np.complexfloating, list, tuple, dict, np.ndarray)):
        return None
    try:
        return float(v)
    except (TypeError, ValueError, OverflowError):
        return None


def _value_by_value(values: np.ndarray, col: str, source: str, *, is_time: bool) -> np.ndarray:
    """(N,) objects as float64, or ``FormatError`` naming the first value that is no number."""
    out = np.full(len(values), np.nan)
    bad = []
    for i, v in enumerate(values):
        f = None if _is_missing(v) else _float_or_none(v)
        if f is not None:
            out[i] = f
        elif not _is_missing(v):
            bad.append(i)
    if bad:
        v = values[bad[0]]
        shown = repr(v) if len(repr(v)) <= 60 else repr(v)[:57] + "..."
        kind = "Time column" if is_time else "Column"
        raise FormatError(
            f"{kind} `{col}` must be numeric, but row {bad[0]} of {source} holds {shown} "
            f"({type(v).__name__}); {len(bad)} of {len(values)} rows are not numbers. Fix those "
            f"values in the data, or leave `{col}` out of the mapped columns."
        )
    return out
