"""ModelSpec: the one copy of a WorldModel's architecture and its defaults.

The :class:`~hybridwm.models.WorldModel` constructor takes these fields as keywords (and stores
them as attributes), ``fit`` validates them through :class:`ModelSpec`, and ``save``/``load``
write and read them as the ``params`` of a model directory's ``config.json``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from hybridwm.config import Config
from hybridwm.dynamics import MLP, SOLVERS
from hybridwm.errors import ConfigError, UnknownNameError

__all__ = [
    "INITS",
    "KINDS",
    "ModelSpec",
    "check_physics",
    "has_free_parameters",
    "is_physics_model",
]

#: the model kinds, listed once: ``WorldModel.from_kind`` and the CLI take these names
KINDS = ("learned", "physics", "hybrid")
#: how the unmeasured initial coordinates of a new record are estimated
INITS = ("encoder", "optimize")


def is_physics_model(obj: Any) -> bool:
    """Duck-typed check for a ``hybridwm.physics.PhysicsModel``."""
    return callable(getattr(obj, "vector_field", None)) and callable(getattr(obj, "to_json", None))


def has_free_parameters(physics: Any) -> bool:
    """True for a declared prior with at least one parameter that is not fixed."""
    params = getattr(physics, "parameters", None)
    if not is_physics_model(physics) or not isinstance(params, dict):
        return False
    return any(not getattr(p, "fixed", False) for p in params.values())


def _check_kind(kind: Any) -> str:
    if kind not in KINDS:
        raise UnknownNameError(f"Unknown WorldModel kind {kind!r}. Valid names: {list(KINDS)}.")
    return str(kind)


def check_physics(kind: str, physics: Any) -> None:
    """Check that ``physics`` fits the model ``kind`` (physics/hybrid need one, learned none).

    Raises:
        UnknownNameError: ``kind`` is not one of :data:`KINDS`.
        ConfigError: a physics or hybrid kind without physics, or a learned kind with physics.
    """
    _check_kind(kind)
    if kind in ("physics", "hybrid") and physics is None:
        raise ConfigError(
            f"A {kind} WorldModel needs `physics` (a PhysicsModel from "
            f"hybridwm.physics.discover/declare). Got None."
        )
    if kind == "learned" and physics is not None:
        raise ConfigError("A learned WorldModel takes no physics; use WorldModel.hybrid(...).")


class ModelSpec(Config):
    """The architecture of a :class:`~hybridwm.models.WorldModel` (everything but the physics
    object and the device), validated by ``fit`` and saved with the model.

    Args:
        kind: ``"learned"``, ``"physics"`` or ``"hybrid"``.
        residual: the :class:`MLP` architecture of the learned term (learned/hybrid).
        trainable_physics: train the physics coefficients together with the residual.
        state_names: the model's state coordinates. Default: the physics' states followed by
            any data states it does not cover (physics/hybrid), or the data's states (learned).
            Coordinates missing from the data are unobserved and get an encoder.
        latent_dim: extra free latent coordinates ``z0, z1, ...`` for the learned term.
        encoder: :class:`MLP` architecture of the initial-state encoder (built only when some
            coordinates are unobserved; default ``MLP(hidden=(64,), activation="tanh")``).
        encoder_window: observations the encoder reads (k).
        solver: integration solver name (see ``hybridwm.dynamics.SOLVERS``).
        substeps: fixed-step sub-steps per sample interval.
        rtol: adaptive-solver relative tolerance.
        atol: adaptive-solver absolute tolerance.
        adjoint: train through ``odeint_adjoint``.
        intersample: the actions between samples: ``"zoh"`` (default: held, as a controller
            applies them) or ``"foh"`` (interpolated linearly, closer to a measured
            continuous input such as a logged voltage or force; Silverbox's input is one) or
            ``"cubic"`` (Catmull-Rom through the four nearest samples) or ``"quintic"``
            (Lagrange through the six nearest): closer still to a band-limited input.
        angles: the states that are angles (radians). The learned networks (residual, pure
            learned field, encoder) see each of them as ``(sin θ, cos θ)`` instead of ``θ``,
            so they are 2π-periodic in it and stay in their training range however far the
            angle winds; the PINN collocation then samples them over the full circle.
            ``None`` (default): inferred at ``fit`` by :func:`hybridwm.physics.infer_angles`
            from the physics model, the data's system (``meta["system"]``) or the state names
            (``theta``, ``phi1``, ``*angle*``, ...); ``()`` turns the embedding off. The
            resolved names are in ``angles_`` and saved with the model.
        init: how the unmeasured coordinates' initial values of a new record are estimated:
            ``"encoder"`` (from its first ``encoder_window`` samples by the trained encoder)
            or ``"optimize"`` (free values fitted to its first ``init_window`` samples with
            the model frozen, starting from the encoder's estimate).
        init_window: samples fitted by ``init="optimize"``.
        gate: where a hybrid's residual acts (see :class:`~hybridwm.dynamics.SupportGate`):
            ``"states"`` (default) multiplies it by a gate that is 1 on the training states
            and closes beyond them, so off the data the hybrid is its physics alone;
            ``"inputs"`` measures the distance in states and actions; ``"off"`` lets the
            residual extrapolate everywhere. Learned and physics models have no gate.
        gate_width: how far beyond the data's edge the gate closes (``1/e`` at this distance,
            in units of the states' standard deviations; angles as ``(sin θ, cos θ)``).
        residual_inputs: the states and actions the hybrid's residual reads (names), or
            ``None`` (default): all of them. E.g. ``("omega", "tau")`` for a pendulum whose
            physics has gravity right and misses friction, drag and actuator effects: such a
            residual depends on the velocity and the action only, so it goes on correcting
            at angles the data never reached, and its gate measures the distance from the
            data in the states it reads only (one that reads no measured state is not gated).
            An angle is read as ``(sin θ, cos θ)``. Hybrids only (a learned model's network is its whole vector field).
    """

    kind: str
    residual: MLP | None = None
    trainable_physics: bool = False
    state_names: tuple[str, ...] | None = None
    latent_dim: int = Field(0, ge=0)
    encoder: MLP | None = None
    encoder_window: int = Field(4, ge=1)
    solver: str = "rk4"
    substeps: int = Field(1, ge=1)
    rtol: float = Field(1e-7, gt=0)
    atol: float = Field(1e-9, gt=0)
    adjoint: bool = False
    intersample: Literal["zoh", "foh", "cubic", "quintic"] = "zoh"
    angles: tuple[str, ...] | None = None
    init: Literal["encoder", "optimize"] = "encoder"
    init_window: int = Field(20, ge=2)
    gate: Literal["off", "states", "inputs"] = "states"
    gate_width: float = Field(0.5, gt=0, allow_inf_nan=False)
    residual_inputs: tuple[str, ...] | None = None

    @classmethod
    def param_names(cls) -> list[str]:
        """The fields a WorldModel stores as attributes (all but ``kind``)."""
        return [n for n in cls.field_names() if n != "kind"]

    @classmethod
    def with_defaults(cls, params: dict[str, Any]) -> dict[str, Any]:
        """``params`` completed with the defaults of every other field but ``kind``
        (unvalidated: a WorldModel validates them in ``fit``).

        Raises:
            TypeError: ``params`` has a key that is no field (the valid ones are listed).
        """
        names = cls.param_names()
        unknown = sorted(set(params) - set(names))
        if unknown:
            raise TypeError(
                f"WorldModel got unknown argument(s) {unknown}. Valid: physics, device and the "
                f"architecture fields {names}."
            )
        return {n: params.get(n, cls.model_fields[n].get_default()) for n in names}

    def params(self) -> dict[str, Any]:
        """``{field: value}`` of every field but ``kind`` (MLP specs as objects)."""
        return {n: getattr(self, n) for n in self.param_names()}

    @field_validator("kind", mode="before")
    @classmethod
    def _kind(cls, value: Any) -> str:
        return _check_kind(value)

    @field_validator("solver", mode="before")
    @classmethod
    def _solver(cls, value: Any) -> Any:
        SOLVERS[value]  # UnknownNameError lists the valid names
        return value

    @field_validator("residual", "encoder", mode="before")
    @classmethod
    def _mlp(cls, value: Any, info: Any) -> Any:
        if value is None or isinstance(value, (MLP, dict)):
            return value
        raise ConfigError(
            f"`{info.field_name}` must be an MLP(hidden=..., activation=...) spec. Got "
            f"{type(value).__name__}."
        )

    @field_validator("angles", mode="before")
    @classmethod
    def _angles(cls, value: Any) -> Any:
        if value is not None and (
            not isinstance(value, (list, tuple)) or not all(isinstance(a, str) for a in value)
        ):
            raise ConfigError(
                f"`angles` must be a list of state names (or None to infer them). Got "
                f"{value!r}; write angles=[{value!r}] for one angle."
            )
        return value

    @field_validator("residual_inputs", mode="before")
    @classmethod
    def _residual_inputs(cls, value: Any) -> Any:
        if value is None:
            return value
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            raise ConfigError(
                f"`residual_inputs` must be a list of state and action names (or None for "
                f"all of them). Got {value!r}; write residual_inputs=[{value!r}] for one."
            )
        bad = [v for v in value if not isinstance(v, str)]
        duplicates = sorted({v for v in value if isinstance(v, str) and value.count(v) > 1})
        if not value or bad or duplicates:
            raise ConfigError(
                f"`residual_inputs` must name at least one state or action, each once, as "
                f"strings. Got {list(value)!r} (not strings: {bad}, repeated: {duplicates})."
            )
        return value

    @model_validator(mode="after")
    def _residual_inputs_for_hybrids(self) -> ModelSpec:
        if self.residual_inputs is not None and self.kind != "hybrid":
            has = "no residual" if self.kind == "physics" else "one network for its whole field"
            raise ConfigError(
                f"`residual_inputs` chooses what a hybrid's residual reads; a {self.kind} "
                f"model has {has}. Drop residual_inputs, or use kind='hybrid'."
            )
        return self

    @model_validator(mode="after")
    def _residual_for_learned_kinds(self) -> ModelSpec:
        if self.kind in ("learned", "hybrid") and self.residual is None:
            raise ConfigError(
                f"A {self.kind} WorldModel needs `residual`, an MLP(hidden=..., activation=...) "
                f"spec. Got None."
            )
        return self
