"""How equations read: one line of text or LaTeX per state.

``d(omega)/dt = -9.81 sin(theta) - 0.1 omega`` and ``\\dot{\\omega} = - 9.81\\,\\sin(\\theta)
- 0.1\\,\\omega``. Rows found by rational discovery, where every term shares one denominator,
print as ``(numerator) / (denominator)``.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from hybridwm.physics.equations import Equations
from hybridwm.physics.expressions import expr_latex, expr_name

__all__ = ["equation_lines", "latex_lines", "shared_denominator"]


def _fmt(c: float, precision: int) -> str:
    return f"{c:.{precision}g}"


def shared_denominator(eqs: Equations, i: int) -> tuple[sp.Expr, list[str]] | None:
    """``(D, numerator names)`` when every active term of row ``i`` is ``numerator / D``
    with one and the same ``D`` (rational discovery), else None. The numerator names are
    given for every feature (inactive ones too), in library order."""
    cols = np.flatnonzero(eqs.mask[i])
    if not cols.size:
        return None
    fractions = [sp.fraction(e) for e in eqs.library.exprs]
    dens = {fractions[j][1] for j in cols}
    if len(dens) != 1:
        return None
    den = dens.pop()
    if den == 1 or not den.free_symbols:
        return None
    return den, [expr_name(num) for num, _ in fractions]


def _numeric_term(parts: list[str], c: float, name: str, precision: int) -> str:
    """``"3 torque"`` with its sign: ``"-3 torque"`` first, ``"- 3 torque"`` after others."""
    mag = _fmt(abs(c), precision)
    term = mag if name == "1" else f"{mag} {name}"
    if not parts:
        return f"-{term}" if c < 0 else term
    return f"- {term}" if c < 0 else f"+ {term}"


def _declared_term(parts: list[str], coef: sp.Expr, feature: sp.Expr, precision: int) -> str:
    """``"0.25*min(0.5*h1, h1 - x1)"`` or ``"(k + 1)*torque"`` with its sign (``"- "`` after
    other terms), multiplication written out."""
    neg = bool(coef.could_extract_minus_sign()) if not coef.is_Number else bool(coef < 0)
    c = -coef if neg else coef
    c_txt = _fmt(float(c), precision) if c.is_Number else expr_name(c)
    if isinstance(c, sp.Add):
        c_txt = f"({c_txt})"
    f_txt = expr_name(feature, precision)
    if isinstance(feature, sp.Add):
        f_txt = f"({f_txt})"
    if feature == 1:
        term = c_txt
    else:
        term = f_txt if c_txt == "1" else f"{c_txt}*{f_txt}"
    if not parts:
        return f"-{term}" if neg else term
    return f"- {term}" if neg else f"+ {term}"


def _declared_lines(eqs: Equations, precision: int, symbolic: bool) -> list[str]:
    """Equations of a declared prior as valid expressions (``declare`` reads them back): with
    ``symbolic``, every parameter by name; otherwise every parameter by its value, in the
    coefficients and inside the terms alike."""
    values = (
        {} if symbolic else {sp.Symbol(n, real=True): v for n, v in eqs.parameter_values.items()}
    )
    out = []
    for i, s in enumerate(eqs.state_names):
        parts: list[str] = []
        for j, feature in enumerate(eqs.library.exprs):
            if not eqs.mask[i, j]:
                continue
            if symbolic:
                coef = eqs.coef_expressions[i][j]
            else:
                coef = sp.Float(float(eqs.coef_array[i, j]))
                feature = feature.xreplace({k: sp.Float(v) for k, v in values.items()})
            parts.append(_declared_term(parts, coef, feature, precision))
        out.append(f"d({s})/dt = " + (" ".join(parts) if parts else "0"))
    return out


def equation_lines(eqs: Equations, precision: int = 4, *, symbolic: bool = False) -> list[str]:
    """One readable string per state, e.g. ``"d(omega)/dt = -9.81 sin(theta) - 0.1 omega"``.

    A declared prior prints valid expressions that ``declare`` reads back, multiplication written
    out: ``"d(h1)/dt = 0.25*min(0.5*h1, h1 - x1) - h1"`` (every parameter by its value) or, with
    ``symbolic``, ``"d(h1)/dt = c*min(h1*q/kc, h1 - x1) - a*h1"`` (every parameter by name).

    Args:
        eqs: the equations.
        precision: significant digits of the coefficients.
        symbolic: for declared priors, print coefficients as expressions of the parameters.
    """
    if eqs.parameters or eqs.info.get("method") == "declared":
        return _declared_lines(eqs, precision, symbolic)
    out = []
    exprs = eqs.coef_expressions if symbolic else None
    mask, coef = eqs.mask, eqs.coef_array
    for i, s in enumerate(eqs.state_names):
        shared = None if exprs is not None else shared_denominator(eqs, i)
        names = eqs.feature_names if shared is None else shared[1]
        parts: list[str] = []
        for j, name in enumerate(names):
            if not mask[i, j]:
                continue
            if exprs is not None and not exprs[i][j].is_Number:
                coef_txt = f"({expr_name(exprs[i][j])})"
                term = coef_txt if name == "1" else f"{coef_txt} {name}"
                parts.append(("+ " if parts else "") + term)
                continue
            parts.append(_numeric_term(parts, float(coef[i, j]), name, precision))
        rhs = " ".join(parts) if parts else "0"
        if shared is not None:
            rhs = f"({rhs}) / ({expr_name(shared[0])})"
        out.append(f"d({s})/dt = " + rhs)
    return out


def latex_lines(eqs: Equations, precision: int = 4) -> list[str]:
    """One LaTeX equation per state, e.g. ``\\dot{\\omega} = - 9.81\\,\\sin(\\theta)``
    (numeric coefficients), each usable on its own (``$$ ... $$``)."""
    lines = []
    mask, coef = eqs.mask, eqs.coef_array
    for i, s in enumerate(eqs.state_names):
        shared = shared_denominator(eqs, i)
        if shared is None:
            lat = eqs.library.latex_names
        else:
            lat = [expr_latex(sp.fraction(e)[0]) for e in eqs.library.exprs]
        parts: list[str] = []
        for j in range(eqs.library.n_features):
            if not mask[i, j]:
                continue
            c = float(coef[i, j])
            mag = _fmt(abs(c), precision)
            term = mag if lat[j] == "1" else f"{mag}\\,{lat[j]}"
            sign = "-" if c < 0 else ("+" if parts else "")
            parts.append(f"{sign} {term}".strip())
        lhs = f"\\dot{{{sp.latex(sp.Symbol(s))}}}"
        rhs = " ".join(parts) if parts else "0"
        if shared is not None:
            rhs = f"\\frac{{{rhs}}}{{{expr_latex(shared[0])}}}"
        lines.append(f"{lhs} = " + rhs)
    return lines
