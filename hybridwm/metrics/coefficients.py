"""Coefficient error: discovered equation coefficients against the true ones, term by term."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from hybridwm.errors import ConfigError, DataError

__all__ = ["COEFFICIENT_COLUMNS", "coefficient_error"]


def coefficient_error(
    discovered: pd.DataFrame,
    true: Mapping[str, Mapping[str, float]],
    *,
    tol: float = 0.0,
) -> pd.DataFrame:
    """Compare discovered equation coefficients with the true ones, term by term.

    A term is *active* when ``|coefficient| > tol``. The result has one row per
    (equation, feature) that is active in the discovered model or non-zero in the truth.

    Args:
        discovered: DataFrame of coefficients, index = equation names, columns = feature names.
        true: ``{equation: {feature: coefficient}}``; absent features count as 0. Every
            equation must be in ``discovered.index``; features missing from
            ``discovered.columns`` count as discovered 0 (missed).
        tol: magnitude at or below which a coefficient counts as zero (>= 0).

    Returns:
        DataFrame with columns ``equation, feature, discovered, true, abs_error, rel_error,
        status``. ``rel_error = abs_error / |true|`` (NaN where the true value is 0).
        ``status`` is ``"correct"`` (active in both), ``"spurious"`` (discovered active, true
        zero) or ``"missed"`` (true non-zero, discovered zero). ``df.attrs`` holds the counts
        ``n_spurious``, ``n_missed``, ``n_true_terms`` and ``n_discovered_terms``.

    Raises:
        DataError: if ``discovered`` is not a DataFrame or holds NaN/inf, a true value is not
            finite, or an equation of ``true`` is not in ``discovered.index`` (the message
            lists both sets of names). ConfigError: if ``tol < 0``.
    """
    disc = _discovered_terms(discovered, tol)
    tr = _true_terms(true, [str(e) for e in discovered.index])
    keys = [k for k in disc if abs(disc[k]) > tol or tr.get(k, 0.0) != 0.0]
    keys += [k for k in tr if k not in disc and tr[k] != 0.0]
    rows = [
        _coefficient_row(eq, f, disc.get((eq, f), 0.0), tr.get((eq, f), 0.0), tol) for eq, f in keys
    ]
    df = pd.DataFrame(rows, columns=COEFFICIENT_COLUMNS)
    df.attrs["n_spurious"] = int((df["status"] == "spurious").sum())
    df.attrs["n_missed"] = int((df["status"] == "missed").sum())
    df.attrs["n_true_terms"] = int(sum(v != 0.0 for v in tr.values()))
    df.attrs["n_discovered_terms"] = int(sum(abs(v) > tol for v in disc.values()))
    return df


#: the columns of :func:`coefficient_error`'s table
COEFFICIENT_COLUMNS = [
    "equation",
    "feature",
    "discovered",
    "true",
    "abs_error",
    "rel_error",
    "status",
]


def _discovered_terms(discovered: Any, tol: float) -> dict[tuple[str, str], float]:
    """``{(equation, feature): coefficient}`` of a checked DataFrame of coefficients."""
    if not isinstance(discovered, pd.DataFrame):
        raise DataError(
            f"`discovered` must be a pandas DataFrame (equations × features). Got "
            f"{type(discovered).__name__}; build one with `pd.DataFrame(coef, index=equations, "
            f"columns=features)`."
        )
    if not (tol >= 0):
        raise ConfigError(f"`tol` must be >= 0. Got {tol!r}.")
    try:
        values = discovered.to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"`discovered` must hold numbers only: {exc}.") from None
    if not np.all(np.isfinite(values)):
        raise DataError("`discovered` holds NaN/inf coefficients; refit or drop those equations.")
    return {
        (str(eq), str(f)): float(values[i, j])
        for i, eq in enumerate(discovered.index)
        for j, f in enumerate(discovered.columns)
    }


def _true_terms(
    true: Mapping[str, Mapping[str, float]], equations: list[str]
) -> dict[tuple[str, str], float]:
    """``{(equation, feature): coefficient}`` of the checked true coefficients, whose
    equations must be among the discovered ``equations``."""
    missing = [e for e in true if str(e) not in equations]
    if missing:
        raise DataError(
            f"True equation(s) {missing} are not in the discovered equations {equations}. Name "
            f"the rows of `discovered` like the keys of `true`."
        )
    out: dict[tuple[str, str], float] = {}
    for eq, terms in true.items():
        for f, v in terms.items():
            value = float(v)
            if not np.isfinite(value):
                raise DataError(
                    f"True coefficient of {f!r} in {eq!r} is {value!r}; it must be finite."
                )
            out[(str(eq), str(f))] = value
    return out


def _coefficient_row(eq: str, f: str, d: float, t: float, tol: float) -> dict[str, Any]:
    """One row of :func:`coefficient_error`: discovered ``d`` against true ``t``."""
    d_on, t_on = abs(d) > tol, t != 0.0
    err = abs(d - t)
    return {
        "equation": eq,
        "feature": f,
        "discovered": d,
        "true": t,
        "abs_error": err,
        "rel_error": err / abs(t) if t_on else np.nan,
        "status": "correct" if (d_on and t_on) else ("spurious" if d_on else "missed"),
    }
