"""Names: the model's state coordinates from data and physics, and the data-vs-model check."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from torch import nn

from hybridwm.data import Trajectory, TrajectorySet
from hybridwm.errors import ConfigError, DataError, ShapeError
from hybridwm.models.spec import ModelSpec

__all__ = ["as_trajectory_set", "check_names", "columns_of", "resolve_names"]


def as_trajectory_set(data: Any, what: str) -> TrajectorySet:
    """``data`` (a TrajectorySet or one Trajectory) as a TrajectorySet.

    Raises:
        DataError: ``data`` is neither; ``what`` names the method it was given to.
    """
    if isinstance(data, Trajectory):
        return TrajectorySet([data])
    if not isinstance(data, TrajectorySet):
        raise DataError(
            f"`data` of {what} must be a TrajectorySet (or Trajectory). Got {type(data).__name__}."
        )
    return data


def check_names(
    data: TrajectorySet,
    states: Sequence[str],
    actions: Sequence[str],
    *,
    what: str = "The data",
    against: str = "the model was fitted on",
) -> None:
    """Check that ``data`` have exactly the given state and action names, in that order.

    Raises:
        ShapeError: naming both sets of names (``what`` names the data, ``against`` the
            reference, e.g. ``"the training data have"``) and how to map the columns.
    """
    if tuple(data.state_names) == tuple(states) and tuple(data.action_names) == tuple(actions):
        return
    raise ShapeError(
        f"{what} have states {list(data.state_names)} and actions {list(data.action_names)}, "
        f"but {against} states {list(states)} and actions {list(actions)}. Map the data "
        f"columns to the model's names (ColumnMapping's state_names/action_names when reading "
        f"a file)."
    )


def columns_of(data: TrajectorySet) -> dict[str, Any] | None:
    """The column mapping the episodes were read with (``meta["columns"]``, the
    ``ColumnMapping.to_dict()`` of a file read through one), when all episodes share it."""
    found = {json.dumps(tr.meta.get("columns"), sort_keys=True, default=str) for tr in data}
    if len(found) != 1:
        return None
    columns = data[0].meta.get("columns")
    return dict(columns) if isinstance(columns, dict) else None


def resolve_names(
    spec: ModelSpec,
    data_states: Sequence[str],
    data_actions: Sequence[str],
    phys: nn.Module | None,
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The model's state and action names for data with ``data_states``/``data_actions``.

    Args:
        spec: the model's architecture (``state_names``, ``latent_dim``).
        data_states: the measured columns.
        data_actions: the action columns.
        phys: the physics module (``state_names``, ``action_names`` and optionally
            ``observation_names``), or None.

    Returns:
        ``(state_names, action_names)``: the spec's or physics' states, then data states the
        physics does not cover, then the latent ``z0, z1, ...``; the data's actions.

    Raises:
        ShapeError: the physics and the data share no state or the data lack a physics action,
            or a measured column or physics state is not a model state.
        ConfigError: duplicate state names.
    """
    data_states, data_actions = tuple(data_states), tuple(data_actions)
    eqs: tuple[str, ...] = ()
    if phys is not None:
        eqs = tuple(getattr(phys, "observation_names", ()) or ())
        _check_physics_names(phys, eqs, data_states, data_actions)
    if spec.state_names is not None:
        names = tuple(spec.state_names)
    elif phys is not None:
        names = tuple(phys.state_names) + tuple(
            n for n in data_states if n not in phys.state_names and n not in eqs
        )
    else:
        names = data_states
    names = names + tuple(f"z{i}" for i in range(spec.latent_dim))
    missing = [n for n in data_states if n not in names and n not in eqs]
    if missing:
        raise ShapeError(
            f"The data have states {list(data_states)} but the model's states are "
            f"{list(names)}; {missing} are not among them. Pass state_names= covering "
            f"every measured column."
        )
    bad = [n for n in (phys.state_names if phys is not None else ()) if n not in names]
    if bad:
        raise ShapeError(
            f"The physics states {bad} are not model states {list(names)}; include them "
            f"in state_names."
        )
    if len(set(names)) != len(names):
        raise ConfigError(f"Model state names must be unique. Got {list(names)}.")
    return names, data_actions


def _check_physics_names(
    phys: nn.Module,
    eqs: tuple[str, ...],
    data_states: tuple[str, ...],
    data_actions: tuple[str, ...],
) -> None:
    px, pu = tuple(phys.state_names), tuple(phys.action_names)
    if (set(px) | set(eqs)) & set(data_states) and all(a in data_actions for a in pu):
        return
    more = f" with observation equations {list(eqs)}" if eqs else ""
    raise ShapeError(
        f"The physics is declared over states {list(px)}{more} and actions "
        f"{list(pu)}, but the data have states {list(data_states)} and actions "
        f"{list(data_actions)}. Rename the data columns or the physics variables so "
        f"they match (`--states/--actions` of the CLI, or ColumnMapping's "
        f"state_names/action_names)."
    )
