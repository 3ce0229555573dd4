"""Building: the torch modules of a WorldModel (physics term, networks, encoder, ODEModel)."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from hybridwm.data import TrajectorySet
from hybridwm.dynamics import MLP, Encoder, HybridDynamics, Normalizer, ODEModel, SupportGate
from hybridwm.errors import ConfigError
from hybridwm.models.spec import ModelSpec, is_physics_model
from hybridwm.physics import infer_angles

__all__ = [
    "DTYPES",
    "build_model",
    "current_physics",
    "dtype_device",
    "gate_columns",
    "input_columns",
    "mlp_spec",
    "physics_module",
    "residual_columns",
    "resolve_angles",
]

#: names of the floating-point types a model can have
DTYPES = {"float64": torch.float64, "float32": torch.float32}
#: the encoder's architecture when the spec gives none
DEFAULT_ENCODER = MLP(hidden=(64,), activation="tanh")


def dtype_device(model: ODEModel) -> tuple[torch.dtype, torch.device]:
    """The model's floating-point type and device (those of its normalizer's buffers)."""
    buf = next(iter(model.dynamics.normalizer.buffers()))
    return buf.dtype, buf.device


def mlp_spec(hidden: Sequence[int] | None, **kwargs: Any) -> MLP:
    """An MLP spec; ``hidden=None`` keeps MLP's default widths."""
    return MLP(**kwargs) if hidden is None else MLP(hidden=tuple(hidden), **kwargs)


def current_physics(model: ODEModel, physics: Any) -> Any:
    """The model's physics as it is now: its term converted back to a PhysicsModel (trained
    or adapted values included) when it can be, else the given ``physics``; None without."""
    module = model.dynamics.physics
    if module is None:
        return None
    to_model = getattr(module, "to_physics_model", None)
    return to_model() if callable(to_model) else physics


def physics_module(physics: Any, trainable: bool, dtype: torch.dtype) -> nn.Module | None:
    """The physics term as a torch module ``forward(x, u) -> dx/dt`` (None without physics).

    Args:
        physics: a PhysicsModel (its ``vector_field``), a torch module with ``state_names``
            and ``action_names`` (deep-copied), or None.
        trainable: whether its coefficients/parameters are trained.
        dtype: floating-point type of the module.

    Raises:
        ConfigError: ``physics`` is neither kind, a module lacks the names, or ``trainable``
            is asked of a module without parameters.
    """
    if physics is None:
        return None
    if is_physics_model(physics):
        return physics.vector_field(trainable=bool(trainable), dtype=dtype)
    if not isinstance(physics, nn.Module):
        raise ConfigError(
            f"`physics` must be a PhysicsModel or a torch module with forward(x, u); got "
            f"{type(physics).__name__}."
        )
    if not hasattr(physics, "state_names") or not hasattr(physics, "action_names"):
        raise ConfigError(
            "A physics module must have `state_names` and `action_names` attributes "
            "and compute dx/dt = forward(x, u)."
        )
    module = copy.deepcopy(physics).to(dtype=dtype)
    params = list(module.parameters())
    if trainable and not params:
        raise ConfigError(
            f"trainable physics was requested but the {type(physics).__name__} module has "
            f"no parameters (its coefficients are buffers); build it with trainable "
            f"coefficients, or use a PhysicsModel."
        )
    for p in params:
        p.requires_grad_(bool(trainable))
    return module


def resolve_angles(
    spec: ModelSpec, names: tuple[str, ...], physics: Any, data: TrajectorySet | None
) -> tuple[str, ...]:
    """The angle states: the spec's (checked against ``names``, in state order) or inferred
    from the physics, the data's system or the state names when the spec says None.

    Raises:
        ConfigError: the spec names an angle that is not a model state.
    """
    if spec.angles is None:
        return infer_angles(names, physics=physics, data=data)
    unknown = [a for a in spec.angles if a not in names]
    if unknown:
        raise ConfigError(
            f"`angles` names {unknown}, which are not model states {list(names)}. Name "
            f"angle states that exist, or pass angles=() for no periodic embedding."
        )
    return tuple(n for n in names if n in set(spec.angles))


def input_columns(
    names: Sequence[str], angles: Sequence[str], actions: Sequence[str], chosen: Sequence[str]
) -> list[int]:
    """Positions of the ``chosen`` states and actions in the residual's full inputs: the
    non-angle states in state order, the sines of the angles, their cosines, then the actions
    (see :class:`~hybridwm.dynamics.fields.AngleEmbedding`); an angle gives two positions."""
    angle_set = set(angles)
    ang = [n for n in names if n in angle_set]
    linear = [n for n in names if n not in angle_set]
    n_lin, n_ang = len(linear), len(ang)
    cols = [i for i, n in enumerate(linear) if n in chosen]
    for j, a in enumerate(ang):
        if a in chosen:
            cols += [n_lin + j, n_lin + n_ang + j]
    cols += [n_lin + 2 * n_ang + i for i, a in enumerate(actions) if a in chosen]
    return sorted(cols)


def residual_columns(
    spec: ModelSpec, names: Sequence[str], angles: Sequence[str], actions: Sequence[str]
) -> list[int] | None:
    """The positions the residual reads (:func:`input_columns` of ``spec.residual_inputs``),
    None for all of them.

    Raises:
        ConfigError: ``spec.residual_inputs`` names something that is neither a model state nor
            an action.
    """
    if spec.residual_inputs is None:
        return None
    unknown = [n for n in spec.residual_inputs if n not in names and n not in actions]
    if unknown:
        raise ConfigError(
            f"`residual_inputs` names {unknown}, which are neither model states {list(names)} "
            f"nor actions {list(actions)}. Name the states and actions the residual should "
            f"read (e.g. the velocities and the actions), or pass None for all of them."
        )
    return input_columns(names, angles, actions, spec.residual_inputs)


def gate_columns(
    dyn: HybridDynamics,
    direct: Sequence[str],
    *,
    with_actions: bool,
    read: Sequence[int] | None = None,
) -> list[int]:
    """Positions in the residual's inputs of the measured states it reads (an angle: its sin
    and cos) and, ``with_actions``, of the actions it reads: the coordinates a support gate
    measures. ``read``: the full-input positions the residual reads (:func:`residual_columns`),
    None for all."""
    chosen = list(direct) + (list(dyn.action_names) if with_actions else [])
    full = input_columns(dyn.state_names, dyn.embedding.angles, dyn.action_names, chosen)
    if read is None:
        return full
    read = list(read)
    return [read.index(c) for c in full if c in read]


def build_model(
    spec: ModelSpec,
    physics: Any,
    names: tuple[str, ...],
    observed: tuple[str, ...],
    actions: tuple[str, ...],
    dtype: torch.dtype,
    angles: tuple[str, ...] = (),
) -> ODEModel:
    """The untrained ODEModel of ``spec`` for the resolved names.

    Args:
        spec: the architecture.
        physics: the physics object (see :func:`physics_module`), or None.
        names: the model's state names (see :func:`~hybridwm.models.names.resolve_names`).
        observed: the measured columns.
        actions: the action names.
        dtype: floating-point type of every module.
        angles: the angle states the networks see as ``(sin, cos)``.

    Returns:
        The ODEModel: dynamics with an identity normalizer, and an encoder when some state is
        not measured directly.
    """
    phys = physics_module(physics, spec.trainable_physics, dtype)
    n_x, n_u = len(names), len(actions)
    residual = None
    columns = residual_columns(spec, names, angles, actions)
    if spec.kind in ("learned", "hybrid") and spec.residual is not None:
        n_in = n_x + len(angles) + n_u if columns is None else len(columns)
        residual = spec.residual.build(n_in, n_x)
    dyn = HybridDynamics(
        names, actions, phys, residual, Normalizer(n_x, n_u), angles=angles,
        residual_columns=columns,
    )  # fmt: skip
    obs_eqs = tuple(getattr(dyn, "observation_names", ()))
    direct = [n for n in observed if n in names and n not in obs_eqs]
    if spec.kind == "hybrid" and spec.gate != "off" and residual is not None:
        gated = gate_columns(dyn, direct, with_actions=spec.gate == "inputs", read=columns)
        dyn.gate = SupportGate(gated, width=spec.gate_width) if gated else None
    hidden = [n for n in names if n not in direct]
    encoder = None
    if hidden:
        enc = spec.encoder or DEFAULT_ENCODER
        encoder = Encoder(
            len(observed),
            n_u,
            len(hidden),
            spec.encoder_window,
            enc.hidden,
            enc.activation,
            angle_index=[observed.index(a) for a in angles if a in observed],
        )
    model = ODEModel(
        dyn,
        observed,
        encoder,
        solver=spec.solver,
        substeps=spec.substeps,
        rtol=spec.rtol,
        atol=spec.atol,
        adjoint=spec.adjoint,
        intersample=spec.intersample,
    )
    return model.to(dtype=dtype)
