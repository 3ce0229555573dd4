"""What a fitted model says about itself: its training run, the residual's share of the vector
field, and how far its trainable physics moved.

The benchmark records these beside the errors (``results.json``'s ``training`` rows and the
``residual_share`` metric), so a reader sees that every kind got the same optimizer steps, when
the wall-clock safety cap cut a run, and whether a hybrid's physics stayed physical while its
residual carried what the physics lacks.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from hybridwm.data import TrajectorySet
from hybridwm.errors import DataError, NotFittedError
from hybridwm.evaluation.coefficients import coefficient_view
from hybridwm.physics import PhysicsModel
from hybridwm.schemas import Coefficients, TrainingRow

__all__ = ["physics_change", "residual_share", "training_row"]


def _dynamics(model: Any, what: str) -> Any:
    """The fitted model's vector field (a ``HybridDynamics``)."""
    module = getattr(model, "model_", None)
    if module is None:
        raise NotFittedError(
            f"`model` of {what} must be a fitted WorldModel; fit it (or load a saved one) first."
        )
    return module.dynamics


def _columns(data: TrajectorySet, names: tuple[str, ...], part: str) -> list[int] | None:
    """Positions of ``names`` among the data's state (or action) columns, None if one is
    missing."""
    have = list(data.state_names if part == "x" else data.action_names)
    if not set(names) <= set(have):
        return None
    return [have.index(n) for n in names]


def residual_share(model: Any, data: TrajectorySet) -> float | None:
    """How much of a hybrid's vector field its residual carries on ``data``'s states.

    For each state ``j``: RMS over the recorded samples of the residual term ``f_nn`` divided
    by the RMS of the whole field ``f_phys + f_nn``; the share is the mean over the states
    whose field is not identically zero. 0: the residual is silent and the physics does all;
    1: the residual is as large as the whole field.

    Args:
        model: a fitted WorldModel.
        data: episodes whose recorded states (T_e, n_x) and held actions (T_e, n_u) are the
            points the field is evaluated at (e.g. a scenario's true states).

    Returns:
        The share (NaN where every state's field is zero), or None for a model without both a
        physics term and a residual, or whose state has coordinates ``data`` does not record
        (latent or unmeasured states).

    Raises:
        NotFittedError: ``model`` is not fitted. DataError: ``data`` is not a TrajectorySet.
    """
    if not isinstance(data, TrajectorySet):
        raise DataError(
            f"`data` of residual_share must be a TrajectorySet. Got {type(data).__name__}."
        )
    dyn = _dynamics(model, "residual_share")
    if not (dyn.has_physics and dyn.has_residual):
        return None
    cols, acts = _columns(data, dyn.state_names, "x"), _columns(data, dyn.action_names, "u")
    if cols is None or acts is None:
        return None
    ref = dyn.normalizer.x_mean
    x = torch.as_tensor(np.concatenate([tr.x[:, cols] for tr in data]), dtype=ref.dtype)
    u = torch.as_tensor(np.concatenate([tr.u[:, acts] for tr in data]), dtype=ref.dtype)
    was_training = dyn.training
    dyn.eval()
    try:
        with torch.no_grad():
            x, u = x.to(ref.device), u.to(ref.device)
            residual = dyn.residual_term(x, u).square().mean(0).sqrt()
            field = dyn.vector_field(x, u).square().mean(0).sqrt()
    finally:
        dyn.train(was_training)
    keep = field > 0
    if not bool(keep.any()):
        return math.nan
    return float((residual[keep] / field[keep]).mean())


def _entries(view: Coefficients) -> dict[str, float]:
    """``{"<equation>: <term>": value}`` of a coefficient view."""
    return {f"{eq}: {term}": v for eq, terms in view.items() for term, v in terms.items()}


def physics_change(start: PhysicsModel, now: PhysicsModel) -> tuple[float, str | None]:
    """The largest relative change ``|now - start| / |start|`` of a physics coefficient (or,
    for a declared prior, of a parameter) from ``start`` to ``now``.

    Terms that are zero in ``start`` stay zero in training and are not compared.

    Args:
        start: the physics the model was built from (discovered or declared).
        now: the model's physics after training (``WorldModel.physics_``).

    Returns:
        ``(change, name)``: the change and the coefficient (``"omega: sin(theta)"``) or
        parameter it belongs to; ``(0.0, None)`` where nothing moved or nothing compares.
    """
    if start.parameters:
        before, after = start.parameter_values, now.parameter_values
    else:
        before, after = _entries(coefficient_view(start)), _entries(coefficient_view(now))
    changes = {
        name: abs(after.get(name, 0.0) - value) / abs(value)
        for name, value in before.items()
        if value != 0
    }
    name = max(changes, key=lambda k: changes[k], default=None)
    if name is None or changes[name] == 0:
        return 0.0, None
    return changes[name], name


def training_row(
    model: Any,
    start: PhysicsModel | None,
    *,
    system: str,
    kind: str,
    seed: int,
    scenario: str,
    adapted: bool = False,
) -> TrainingRow:
    """The :class:`~hybridwm.schemas.TrainingRow` of a fitted (or adapted) model.

    Args:
        model: the fitted WorldModel (after ``adapt`` when ``adapted``).
        start: the physics it was built from (None for a learned model).
        system, kind, seed: the job. scenario: ``"train"`` for the fit, else the adapted
            scenario's name.
        adapted: describe the adaptation run (``adapt_history_``) instead of the fit.

    Raises:
        NotFittedError: ``model`` is not fitted (or not adapted when ``adapted``).
    """
    _dynamics(model, "training_row")
    history = getattr(model, "adapt_history_" if adapted else "history_", None)
    if history is None:
        raise NotFittedError(
            "`model` of training_row has no adaptation history; adapt it first, or pass "
            "adapted=False."
        )
    row: dict[str, Any] = {
        "system": system,
        "model": kind,
        "scenario": scenario,
        "seed": seed,
        "steps": history.steps,
        "best_epoch": history.best_epoch,
        "stop_reason": history.stop_reason,
    }
    now = model.physics_
    if start is not None and isinstance(now, PhysicsModel):
        change, term = physics_change(start, now)
        row.update(physics_change=change, physics_change_term=term)
        if now.parameters:
            row["parameters"] = now.parameter_values
        else:
            row["coefficients"] = coefficient_view(now)
    return TrainingRow(**row)
