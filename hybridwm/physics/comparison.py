"""Comparison of found coefficients with known (true) ones, term by term."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import sympy as sp

from hybridwm.errors import DataError, UnknownNameError
from hybridwm.physics.equations import Equations
from hybridwm.physics.expressions import expr_name, parse_expression
from hybridwm.physics.notation import parse_lhs

__all__ = ["compare_coefficients"]


def _state_of(key: str, states: Sequence[str]) -> str:
    k = key.strip()
    if k in states:
        return k
    s = parse_lhs(k)
    if s is None or s not in states:
        raise UnknownNameError(f"Equation key {key!r} names no state of the model {list(states)}.")
    return s


def _true_mapping(true_equations: Any) -> Mapping[str, Mapping[str, float]]:
    """``{equation: {feature: value}}`` from a mapping or an object with such ``coefficients``."""
    if isinstance(true_equations, Mapping):
        return true_equations
    coefficients = getattr(true_equations, "coefficients", None)
    if not isinstance(coefficients, Mapping):
        raise DataError(
            f"`true_equations` of compare must be a mapping {{equation: {{feature: "
            f"value}}}} or have such a `coefficients` attribute. Got "
            f"{type(true_equations).__name__}."
        )
    return coefficients


def compare_coefficients(eqs: Equations, true_equations: Any) -> pd.DataFrame:
    """Compare the coefficients of ``eqs`` with known ones.

    Args:
        eqs: the equations found.
        true_equations: ``{equation: {feature: coefficient}}``; equations keyed by state name
            or ``"d(state)/dt"``; features as expressions (matched to the features of ``eqs``
            symbolically, so ``"cos(theta)*torque"`` matches ``"torque*cos(theta)"``). An
            object with a ``coefficients`` mapping of that form (e.g.
            ``get_system("pendulum").true_equations()``) is accepted too.

    Returns:
        One row per (state, feature) that is nonzero in either: ``true``, ``found``,
        ``abs_error``, ``rel_error`` (NaN where the true value is 0: a spurious term).
    """
    true_equations = _true_mapping(true_equations)
    names = eqs.state_names + eqs.action_names + eqs.parameter_names
    index = {e: j for j, e in enumerate(eqs.library.exprs)}
    coef = eqs.coef_array
    rows = []
    seen: set[tuple[int, int]] = set()
    for key, terms in true_equations.items():
        s = _state_of(key, eqs.state_names)
        i = eqs.state_names.index(s)
        for ftxt, val in terms.items():
            e = parse_expression(ftxt, names, what="true feature")
            j = index.get(e)
            if j is None:
                j = next((jj for ee, jj in index.items() if sp.simplify(ee - e) == 0), None)
            found = 0.0 if j is None else float(coef[i, j])
            if j is not None:
                seen.add((i, j))
            rows.append((s, expr_name(e), float(val), found))
    for i, j in zip(*np.nonzero(eqs.mask), strict=False):
        if (int(i), int(j)) not in seen:
            rows.append((eqs.state_names[i], eqs.feature_names[j], 0.0, float(coef[i, j])))
    df = pd.DataFrame(rows, columns=["state", "feature", "true", "found"])
    df["abs_error"] = (df["found"] - df["true"]).abs()
    df["rel_error"] = np.where(
        df["true"] != 0, df["abs_error"] / df["true"].abs().where(df["true"] != 0, 1.0), np.nan
    )
    return df
