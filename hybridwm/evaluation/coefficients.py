"""What a benchmark run records about a system's discovered equations (``results.json``'s
``systems`` part, :class:`~hybridwm.schemas.SystemEntry`).

The equations are printed by the :class:`~hybridwm.physics.PhysicsModel` itself; this module
puts its coefficients beside the closed-form truth of the system, term by term, under names
that compare equal: the true features are printed by the physics' own expression printer, and
the terms ``numerator / D`` of a rational model are named by their numerator, with the
denominator's coefficients as pseudo-features ``"D: z^k"`` (both sides normalised to
``D = 1 + ...``).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from hybridwm.errors import ConfigError, ParseError, UnknownNameError
from hybridwm.physics import PhysicsModel, parse_expression
from hybridwm.physics.expressions import expr_name
from hybridwm.physics.printing import shared_denominator
from hybridwm.schemas import Coefficients, SystemEntry
from hybridwm.systems import TrueEquations, get_system

__all__ = ["coefficient_view", "incomplete_physics", "system_entry"]

_RATIONAL_NOTE = (
    "The exact equations are rational in the state (a common denominator {denominator}); a "
    "polynomial/trigonometric library can only approximate them, which is the gap the hybrid "
    "residual is meant to close. Discovery with `denominator=...` finds the rational form."
)


def _canonical(feature: str, names: Sequence[str]) -> str:
    """A feature's printed name after parsing, so that equal expressions compare equal."""
    try:
        return expr_name(parse_expression(feature, names))
    except (ParseError, UnknownNameError):  # not an expression over these names: keep the text
        return feature


def _term_names(phys: PhysicsModel, i: int) -> list[str]:
    """The names of row ``i``'s terms: the numerators where the row is ``(...) / D``."""
    shared = shared_denominator(phys, i)
    return phys.feature_names if shared is None else shared[1]


def _view(
    phys: PhysicsModel, values: pd.DataFrame, keep: pd.DataFrame | None = None
) -> Coefficients:
    """``{state: {term: value}}`` of the terms that are non-zero in ``keep`` (else ``values``).

    Args:
        phys: the model the (n_x, n_features) tables belong to.
        values: the numbers to record, one row per state, one column per feature.
        keep: the table whose non-zero entries select the terms.
    """
    ref = values if keep is None else keep
    return {
        str(state): {
            name: float(values.iat[i, j])
            for j, name in enumerate(_term_names(phys, i))
            if ref.iat[i, j] != 0
        }
        for i, state in enumerate(values.index)
    }


def _denominator_terms(phys: PhysicsModel, view: Coefficients) -> None:
    """Add the denominator's coefficients ``d_k`` of a rational model to its rows, as
    pseudo-features ``"D: z^k"``."""
    rational = phys.info.get("rational")
    if not rational:
        return
    names = (*phys.state_names, *phys.action_names)
    z = rational["z"]
    for k, dk in enumerate(rational["coefficients"], start=1):
        name = f"D: {_canonical(z if k == 1 else f'({z})^{k}', names)}"
        for state in rational["rational_states"]:
            view[state][name] = float(dk)


def coefficient_view(phys: PhysicsModel) -> Coefficients:
    """``{state: {term: value}}`` of ``phys``'s non-zero terms, named as ``results.json``
    names them (numerators of a rational model, its denominator as ``"D: z^k"``)."""
    view = _view(phys, phys.coefficients)
    _denominator_terms(phys, view)
    return view


def incomplete_physics(system: str) -> bool:
    """Whether ``system``'s physics is incomplete: True for a ``*-rig`` system and for any
    system without closed-form equations (its simulator has effects that no equations the
    benchmark could discover or compare with hold); False where the closed form is known."""
    return system.endswith("-rig") or _closed_form(system) is None


def _closed_form(system: str) -> TrueEquations | None:
    """``system``'s closed-form equations, None where none are known."""
    try:
        return get_system(system).true_equations()
    except ConfigError:
        return None


def _truth(system: str, phys: PhysicsModel) -> tuple[Coefficients | None, str | None]:
    """``(true coefficients, note)`` of ``system`` under ``phys``'s names: the truth where it
    compares term by term, else a note saying why not (both None without a closed form)."""
    true = _closed_form(system)
    if true is None:
        return None, None
    names = (*phys.state_names, *phys.action_names)
    coefs = {
        k: {_canonical(f, names): c for f, c in v.items()} for k, v in true.coefficients.items()
    }
    if not true.denominator:
        return coefs, None
    if not phys.info.get("rational"):
        return None, _RATIONAL_NOTE.format(denominator=dict(true.denominator))
    # both are normalised to D = 1 + ...: numerators and D compare term by term
    for state, den in true.denominator.items():
        for f, c in den.items():
            if f != "1":
                coefs.setdefault(state, {})[f"D: {_canonical(f, names)}"] = float(c)
    return coefs, None


def system_entry(system: str, phys: PhysicsModel) -> SystemEntry:
    """What ``results.json`` records about ``system``'s discovered equations ``phys``: names,
    equations (text and LaTeX), non-zero coefficients with their ensemble std and inclusion
    probability, the true coefficients (or a note saying why they do not compare), and whether
    the system's physics is incomplete (:func:`incomplete_physics`)."""
    coefficients = coefficient_view(phys)
    std, inclusion = phys.coef_std, phys.inclusion_probability
    true, note = _truth(system, phys)
    return SystemEntry(
        state_names=list(phys.state_names),
        action_names=list(phys.action_names),
        equations=phys.equations(),
        equations_latex=phys.latex_equations(),
        coefficients=coefficients,
        coefficients_std=None if std is None else _view(phys, std, keep=phys.coefficients),
        inclusion_probability=None if inclusion is None else _view(phys, inclusion),
        true_coefficients=true,
        note=note,
        incomplete_physics=incomplete_physics(system),
    )
