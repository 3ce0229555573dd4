"""Kinematic rows known in advance: ``dq/dt = v`` held exactly instead of discovered.

In mechanics half of the equations are not physics to discover: the derivative of a joint's
position is its measured velocity (``d(theta)/dt = omega`` for a hinge, ``dx/dt = v`` for a
slide). A regression on noisy derivative estimates still puts small spurious terms in those rows
(``dx/dt = 0.9966 v + 0.034 omega - 0.071 sin(theta)`` on a noisy cart-pole record), and a
simulation integrates them into a position that drifts, worst off the data. Pinned rows
(``DiscoverConfig(kinematics=("x=v", "theta=omega"))``) skip the regression and get
coefficient 1 on their velocity and 0 on everything else; the refinement by simulation error
(:mod:`hybridwm.physics.refinement`) and the torch term's training
(:class:`~hybridwm.physics.torch_field.TorchVectorField`) hold them there. The pins are
recorded in ``info["kinematics"]`` (``{position: velocity}``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import sympy as sp

from hybridwm.errors import ConfigError, UnknownNameError
from hybridwm.physics.expressions import parse_expression

__all__ = ["check_kinematics", "parse_kinematics", "pin_rows", "pinned_rows"]


def check_kinematics(entries: Sequence[str]) -> dict[str, str]:
    """``{position: velocity}`` from entries ``"position=velocity"`` (names not yet checked
    against any data).

    Raises:
        ConfigError: an entry is not ``"name=name"``, a position is its own velocity or a
            position is pinned twice.
    """
    out: dict[str, str] = {}
    for entry in entries:
        parts = [p.strip() for p in str(entry).split("=")]
        if len(parts) != 2 or not all(p.isidentifier() for p in parts):
            raise ConfigError(
                f"`kinematics` entries must read 'position=velocity', e.g. 'theta=omega' "
                f"(d(theta)/dt = omega). Got {entry!r}."
            )
        q, v = parts
        if q == v:
            raise ConfigError(
                f"`kinematics` entry {entry!r} makes {q!r} its own derivative; name the velocity "
                f"state, e.g. 'theta=omega'."
            )
        if q in out:
            raise ConfigError(
                f"`kinematics` pins {q!r} twice ({q}={out[q]} and {entry!r}); give each position "
                f"one velocity."
            )
        out[q] = v
    return out


def parse_kinematics(entries: Sequence[str], state_names: Sequence[str]) -> dict[str, str]:
    """``{position: velocity}`` from ``DiscoverConfig.kinematics``, checked against the states.

    Args:
        entries: ``"position=velocity"`` strings.
        state_names: the data's states.

    Raises:
        ConfigError: see :func:`check_kinematics`.
        UnknownNameError: a name is not a state of the data.
    """
    pins = check_kinematics(entries)
    states = list(state_names)
    unknown = sorted({n for pair in pins.items() for n in pair if n not in states})
    if unknown:
        raise UnknownNameError(
            f"`kinematics` names {unknown}, which are not states of the data. States: {states}."
        )
    return pins


def pinned_rows(info: Mapping[str, Any], state_names: Sequence[str]) -> np.ndarray:
    """(n_x,) bool: the rows a model's ``info["kinematics"]`` pins (all False without pins)."""
    pins = info.get("kinematics") or {}
    return np.array([name in pins for name in state_names], dtype=bool)


def pin_rows(
    exprs: Sequence[sp.Expr],
    coef: np.ndarray,
    stats: dict[str, Any] | None,
    pins: Mapping[str, str],
    state_names: Sequence[str],
    action_names: Sequence[str],
) -> tuple[list[sp.Expr], np.ndarray, dict[str, Any] | None]:
    """Set each pinned row to ``d(position)/dt = velocity`` exactly.

    Args:
        exprs: the features of the fitted model, one per column of ``coef``.
        coef: (n_x, n_features) fitted coefficients (the pinned rows' values are replaced).
        stats: ensemble statistics, arrays of ``coef``'s shape under ``coef_mean``,
            ``coef_std`` and ``inclusion_probability`` (None: no ensemble).
        pins: ``{position: velocity}``.
        state_names: the states, in row order.
        action_names: the actions (names the features may use).

    Returns:
        The features (the velocity appended when no column is that state alone), the
        coefficients and the statistics (a pinned coefficient has mean 1, std 0 and inclusion
        probability 1).
    """
    states = list(state_names)
    names = (*states, *action_names)
    exprs = list(exprs)
    coef = np.array(coef, dtype=np.float64, copy=True)
    stats = None if stats is None else dict(stats)
    for q, v in pins.items():
        symbol = parse_expression(v, names, what="kinematics velocity")
        if symbol not in exprs:
            exprs.append(symbol)
            coef = np.concatenate([coef, np.zeros((coef.shape[0], 1))], axis=1)
            if stats is not None:
                for key in ("coef_mean", "coef_std", "inclusion_probability"):
                    col = np.zeros((coef.shape[0], 1))
                    stats[key] = np.concatenate([np.asarray(stats[key]), col], axis=1)
        i, j = states.index(q), exprs.index(symbol)
        coef[i] = 0.0
        coef[i, j] = 1.0
        if stats is not None:
            for key, value in (
                ("coef_mean", 1.0),
                ("coef_std", 0.0),
                ("inclusion_probability", 1.0),
            ):
                arr = np.array(stats[key], dtype=np.float64, copy=True)
                arr[i] = 0.0
                arr[i, j] = value
                stats[key] = arr
    return exprs, coef, stats
