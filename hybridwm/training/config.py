"""TrainConfig: every setting of a training run, in five parts (TOML/YAML/JSON loadable).

The settings are grouped by what they hold: ``optim`` (:class:`OptimConfig`: budget, learning
rate and its schedule, clipping, L-BFGS), ``windows`` (:class:`WindowConfig`: window length,
spacing and the horizon curriculum), ``loss`` (:class:`LossConfig`: the terms of the objective,
their weights and the collocation box), ``validation`` (:class:`ValidationConfig`: held-out
episodes, early stopping, the wall-clock budget) and ``run`` (:class:`RunConfig`: seed, device,
threads, checkpoints, progress bar). Every setting has one name, unique over the parts, so it can
also be given and read *flat*::

    TrainConfig(epochs=50, horizon=10)                         # routed to optim / windows
    TrainConfig(optim={"epochs": 50}, windows={"horizon": 10})  # the same config
    cfg.epochs == cfg.optim.epochs                             # read (and set) flat or nested

``to_dict`` writes the nested form; ``from_dict`` / ``from_file`` read nested, flat (the form of
older run directories and of the benchmark presets' ``[train]`` tables) or both mixed, where a
flat key overrides the same setting of its part.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import os
import typing
from collections.abc import Iterator, Mapping
from typing import Annotated, Any, ClassVar, Literal

import torch
from pydantic import BeforeValidator, ConfigDict, Field, field_validator, model_validator
from pydantic.fields import FieldInfo

from hybridwm.config import Config
from hybridwm.errors import ConfigError

__all__ = [
    "ADAPT_PHYSICS_LR",
    "LR_SCHEDULES",
    "LossConfig",
    "OptimConfig",
    "RunConfig",
    "TrainConfig",
    "ValidationConfig",
    "WindowConfig",
    "check_device",
]

LRSchedule = Literal["cosine", "plateau", "constant"]
LR_SCHEDULES: tuple[str, ...] = typing.get_args(LRSchedule)
ADAPT_PHYSICS_LR = 0.05  # physics learning rate of WorldModel.adapt when physics_lr is None


def _integer(value: Any) -> Any:
    """Refuse booleans and strings where a count is expected (pydantic would read them)."""
    if isinstance(value, (bool, str)):
        raise ValueError(f"must be an integer, not a {type(value).__name__}")
    return value


def _path(value: Any) -> Any:
    """A ``pathlib.Path`` (or any path-like) is stored as its string."""
    return os.fspath(value) if isinstance(value, os.PathLike) else value


Integer = Annotated[int, BeforeValidator(_integer)]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]
PathStr = Annotated[str, BeforeValidator(_path)]


class _Part(Config):
    """Base of the parts: field docs come from the docstring under each field."""

    model_config = ConfigDict(use_attribute_docstrings=True)


class OptimConfig(_Part):
    """Optimization: the budget in epochs, AdamW's learning rate and its schedule, L-BFGS."""

    epochs: Integer = Field(200, ge=1)
    """Passes over the training windows (the run may stop earlier: ``patience``, ``max_time``)."""
    batch_size: Integer = Field(64, ge=1)
    """Windows per gradient step."""
    lr: float = Field(3e-3, gt=0, allow_inf_nan=False)
    """Adam learning rate (peak)."""
    lr_schedule: LRSchedule = "cosine"
    """``"cosine"`` (decays to ``min_lr`` over the epochs, or over ``max_time`` if that ends
    first), ``"plateau"`` (halve when validation stalls), or ``"constant"``."""
    min_lr: NonNegative = 3e-5
    """Final learning rate of the cosine schedule / floor of the plateau one."""
    physics_lr: float | None = None
    """Peak learning rate of trainable physics coefficients / parameters, which follows the same
    schedule scaled by ``physics_lr / lr`` (``None``: ``lr`` in ``WorldModel.fit``;
    :data:`ADAPT_PHYSICS_LR` = 0.05 in ``WorldModel.adapt``, where coefficients such as a
    pendulum's ``g/l`` must move by whole units within a few hundred Adam steps: with 3e-3 a 20 s
    recalibration recovered a third of the shift, with 0.05 all of it)."""
    weight_decay: NonNegative = 0.0
    """Decoupled weight decay (AdamW) on the neural-network weights (never on physics
    coefficients)."""
    grad_clip: float | None = Field(1.0, gt=0)
    """Clip the global gradient norm to this value (``None``: no clipping)."""
    lbfgs_steps: Integer = Field(0, ge=0)
    """Optional L-BFGS iterations after Adam, on up to ``lbfgs_windows`` windows at the full
    horizon (0: none)."""
    lbfgs_windows: Integer = Field(512, ge=0)
    """Number of windows in the L-BFGS batch."""

    @field_validator("physics_lr")
    @classmethod
    def _finite_positive(cls, value: float | None) -> float | None:
        if value is not None and not (math.isfinite(value) and value > 0):
            raise ValueError("must be a finite number > 0 or None (= lr)")
        return value

    @model_validator(mode="after")
    def _min_lr_below_lr(self) -> OptimConfig:
        if self.lr_schedule in ("cosine", "plateau") and self.min_lr > self.lr:
            raise ConfigError(
                f"TrainConfig.optim.min_lr ({self.min_lr!r}) must not exceed lr ({self.lr!r}) "
                f"with the {self.lr_schedule!r} schedule: it is the value the rate decays to. "
                f"Lower min_lr, or use lr_schedule='constant'."
            )
        return self


class WindowConfig(_Part):
    """Training windows: their length and spacing, and the horizon curriculum."""

    horizon: Integer = Field(20, ge=1)
    """H, steps per training window (multiple shooting over windows)."""
    stride: Integer = Field(1, ge=1)
    """Distance in samples between window starts."""
    curriculum: bool = True
    """Grow the rollout horizon from ``curriculum_start`` to ``horizon`` over the first
    ``curriculum_fraction`` of training."""
    curriculum_start: Integer = Field(2, ge=1)
    """First horizon of the curriculum."""
    curriculum_fraction: float = Field(0.3, gt=0, le=1)
    """Fraction of training (epochs or time) the growth takes."""


class LossConfig(_Part):
    """The objective: the weight of each term (each is logged separately; the total is the
    weighted sum), the PINN collocation box and reference, and multiple shooting."""

    rollout_weight: NonNegative = 1.0
    """NonNegative of the multi-step rollout loss (mean squared error normalized per state by the data
    std)."""
    pinn_weight: NonNegative = 1e-3
    """NonNegative of the PINN residual loss: squared mismatch between the model's vector field and the
    (initial) physics at random collocation points. The default 1e-3 was the best of 0.1 / 0.01 /
    1e-3 on every pendulum and cartpole scenario (2 seeds; benchmarks/RESULTS.md, "PINN weight");
    raise it when the physics is trusted more than the data far from the data."""
    residual_weight: NonNegative = 1e-3
    """NonNegative of the minimum-norm penalty ‖f_nn‖² (normalized units) on the training states."""
    n_collocation: Integer = Field(256, ge=0)
    """Collocation points per step."""
    collocation_scale: float = Field(2.5, gt=0)
    """The collocation box is the training data's range (per state and action) scaled by this
    factor about its center (default 2.5: far enough that the residual is held near zero where an
    off-data rollout goes, e.g. the ±8 rad/s of a pendulum spinning over the top when the data
    swing at ±4 rad/s; with 1.5 the hybrid was 2.2× worse than physics-only there, with 2.5 1.5×
    better)."""
    collocation_box: dict[str, tuple[float, float]] | None = None
    """Explicit box ``{name: (low, high)}`` overriding the scaled range for the named
    states/actions. Angle states embedded periodically by the model are sampled over ``[-π, π]``
    unless named here."""
    pinn_reference: Literal["auto", "initial", "current"] = "auto"
    """What the PINN term compares the model with when the physics is trainable: ``"initial"``
    (the physics as it was when training started: keeps the model near the given equations),
    ``"current"`` (the physics as it is now: only the residual is penalized, so the physical
    parameters are free to move to the values the data support), or ``"auto"``: ``"current"`` for
    declared priors (physics with named parameters, whose starting values are guesses),
    ``"initial"`` otherwise."""
    shooting: Literal["encoder", "multiple"] = "encoder"
    """How windows of a model with unmeasured (hidden) coordinates start: ``"encoder"`` (the
    encoder estimates them from each window's first samples) or ``"multiple"`` (multiple shooting:
    a learnable start per sample position, tied to the previous windows' predictions by the
    continuity penalty; the encoder learns to reproduce the starts). Ignored for fully measured
    models."""
    continuity_weight: NonNegative = 1.0
    """NonNegative of the multiple-shooting continuity penalty."""

    @model_validator(mode="after")
    def _box_low_below_high(self) -> LossConfig:
        for name, (low, high) in (self.collocation_box or {}).items():
            if not low < high:
                raise ConfigError(
                    f"TrainConfig.loss.collocation_box[{name!r}] must be (low, high) with low < "
                    f"high. Got {(low, high)!r}; swap the bounds or widen the interval."
                )
        return self


class ValidationConfig(_Part):
    """Validation and stopping: held-out episodes, early stopping, the wall-clock budget."""

    validation_fraction: float = Field(0.2, ge=0, lt=1)
    """Fraction of episodes held out for validation (0: none; the best model is then the one with
    the lowest training loss)."""
    validation_horizon: Integer | None = Field(None, ge=1)
    """Rollout length of validation windows (``None``: whole episodes)."""
    validate_every: Integer = Field(1, ge=1)
    """Validate every this many epochs."""
    patience: Integer | None = Field(30, ge=1)
    """Stop after this many validations without improvement once the curriculum has reached the
    full horizon (``None``: never)."""
    max_time: float | None = Field(None, gt=0)
    """Wall-clock budget in seconds (``None``: none)."""


class RunConfig(_Part):
    """How the run executes: seed, solver, threads, device, dtype, checkpoints, progress bar."""

    seed: Integer = Field(0, ge=0)
    """Seeds the split, model initialization, shuffling and collocation sampling."""
    solver: str | None = None
    """Integration solver during training (``None``: the model's own)."""
    threads: Integer | None = Field(1, ge=1)
    """``torch.set_num_threads`` during training (``None``: leave unchanged)."""
    device: str | None = None
    """``"cpu"``, ``"cuda"``, ``"cuda:1"``, ... (``None``: the model's device); it must exist
    on this machine."""
    dtype: Literal["float64", "float32"] = "float64"
    """Floating-point type of the model during training."""
    checkpoint_dir: PathStr | None = None
    """Where ``best.pt`` / ``last.pt`` go (``None``: no files)."""
    checkpoint_every: Integer = Field(0, ge=0)
    """Also write ``last.pt`` every this many epochs (0: never)."""
    resume_from: PathStr | None = None
    """A checkpoint file to resume from."""
    progress: bool = True
    """Show a progress bar with each loss part."""

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str | None) -> str | None:
        if value is not None:
            check_device(value)
        return value


#: False while reading the record of a past run (its device may be absent from this machine)
_CHECK_AVAILABLE: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "hybridwm_check_device", default=True
)


def check_device(device: str) -> torch.device:
    """``device`` parsed by ``torch.device`` and checked to be available on this machine.

    Raises:
        ConfigError: ``device`` is not a torch device name, or (outside
            :meth:`TrainConfig.from_record`) one that this machine or torch build lacks.
    """
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ConfigError(
            f"TrainConfig.run.device must be a torch device such as 'cpu', 'cuda' or 'cuda:1'. "
            f"Got {device!r}. Fix: use 'cpu', or leave it unset (the model's device)."
        ) from None
    if parsed.type == "cpu" or not _CHECK_AVAILABLE.get():
        return parsed
    backend = getattr(torch, parsed.type, None)
    available = getattr(backend, "is_available", None)
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            f"TrainConfig.run.device is {device!r}, but this torch ({torch.__version__}) sees no "
            f"CUDA device (torch.cuda.is_available() is False; valid here: 'cpu'). Fix: install "
            f"a CUDA build of torch on a machine with an NVIDIA GPU, or use device 'cpu'."
        )
    if available is None or not available():
        raise ConfigError(
            f"TrainConfig.run.device is {device!r}, but the {parsed.type!r} backend is not "
            f"available in this torch ({torch.__version__}); valid here: 'cpu'"
            f"{', cuda' if torch.cuda.is_available() else ''}. Fix: use device 'cpu'."
        )
    count = getattr(backend, "device_count", None)
    if parsed.index is not None and callable(count) and parsed.index >= count():
        raise ConfigError(
            f"TrainConfig.run.device is {device!r}, but this machine has {count()} "
            f"{parsed.type} device(s) (indices 0..{count() - 1}). Fix: use a smaller index."
        )
    return parsed


class TrainConfig(Config):
    """Settings of :class:`~hybridwm.training.Trainer` (and ``WorldModel.fit``), in five parts.

    Every setting is also accepted and readable flat (``TrainConfig(epochs=50)``,
    ``cfg.epochs``); :meth:`flat_fields` lists them with their type, default and doc.

    Attributes:
        optim: :class:`OptimConfig`: epochs, batch size, learning rates and schedule, clipping,
            weight decay, L-BFGS.
        windows: :class:`WindowConfig`: horizon, stride, curriculum.
        loss: :class:`LossConfig`: loss weights, collocation box, PINN reference, shooting.
        validation: :class:`ValidationConfig`: validation split and horizon, patience, max_time.
        run: :class:`RunConfig`: seed, solver, threads, device, dtype, checkpoints, progress.
    """

    optim: OptimConfig = Field(default_factory=OptimConfig)
    windows: WindowConfig = Field(default_factory=WindowConfig)
    loss: LossConfig = Field(default_factory=LossConfig)
    validation: ValidationConfig = Field(default_factory=ValidationConfig)
    run: RunConfig = Field(default_factory=RunConfig)

    unknown_hint: ClassVar[str] = (
        "Give each setting flat (epochs=50) or inside its part (optim={'epochs': 50}); "
        "TrainConfig.flat_fields() documents them."
    )

    # ------------------------------------------------------------------ flat names
    @classmethod
    def flat_fields(cls) -> dict[str, FieldInfo]:
        """Every setting by its flat name, in documentation order (``optim`` first, ``run`` last).

        Returns:
            ``{name: FieldInfo}``: pydantic's description of each field: ``annotation`` (its
            type), ``default``, ``description`` (its doc) and ``metadata`` (its bounds). One CLI
            flag per entry covers every setting.
        """
        return {name: info for kind in _PARTS.values() for name, info in kind.model_fields.items()}

    @classmethod
    def flat_field_names(cls) -> list[str]:
        """The flat setting names (the order of :meth:`flat_fields`)."""
        return list(cls.flat_fields())

    @classmethod
    def part_of(cls, name: str) -> str:
        """The part holding the flat setting ``name`` (``"epochs"`` → ``"optim"``).

        Raises:
            ConfigError: ``name`` is not a setting (the message lists them).
        """
        part = _PART_OF.get(name)
        if part is None:
            raise ConfigError(
                f"{name!r} is not a TrainConfig setting. Settings: {cls.flat_field_names()}."
            )
        return part

    @classmethod
    def field_names(cls) -> list[str]:
        """Every name the constructor takes: the flat settings (in the order positional
        arguments follow), then the parts."""
        return [*cls.flat_field_names(), *cls.model_fields]

    @model_validator(mode="before")
    @classmethod
    def _route_flat_settings(cls, data: Any) -> Any:
        """Put each flat key into its part (a flat key overrides the same setting of a part)."""
        if not isinstance(data, dict):
            return data
        unknown = sorted(k for k in data if k not in _PART_OF and k not in cls.model_fields)
        if unknown:
            raise ConfigError(
                f"Unknown TrainConfig field(s) {unknown}. Valid fields: {cls.field_names()}. "
                f"{cls.unknown_hint}"
            )
        parts = {k: _part_dict(k, v) for k, v in data.items() if k in cls.model_fields}
        for name, value in data.items():
            part = parts.setdefault(_PART_OF[name], {}) if name in _PART_OF else None
            if isinstance(part, dict):  # else pydantic reports the part's wrong type
                part[name] = value
        return parts

    @classmethod
    def from_record(cls, record: str | os.PathLike[str] | Mapping[str, Any]) -> TrainConfig:
        """The config recorded with a past run (a model directory's ``train_config.json``, as
        a path or as its parsed mapping).

        Like :meth:`from_file` / :meth:`from_dict`, but the ``device`` need not exist here: a
        model trained on a GPU loads on a CPU-only machine.
        """
        with _device_unchecked():
            if isinstance(record, Mapping):
                return cls.from_dict(dict(record))
            return cls.from_file(record)

    def replace(self, **changes: Any) -> TrainConfig:
        """A validated copy with some settings changed, by flat name or by part."""
        parts = {name: getattr(self, name) for name in type(self).model_fields}
        return type(self)(**{**parts, **changes})

    def __getattr__(self, name: str) -> Any:
        """Flat read access: ``cfg.epochs`` is ``cfg.optim.epochs``."""
        part = _PART_OF.get(name)
        if part is None:
            return super().__getattr__(name)  # type: ignore[misc]
        return getattr(getattr(self, part), name)

    def __setattr__(self, name: str, value: Any) -> None:
        """Flat assignment (validated by the part): ``cfg.epochs = 5``."""
        part = _PART_OF.get(name)
        if part is None:
            super().__setattr__(name, value)
        else:
            setattr(getattr(self, part), name, value)

    def __dir__(self) -> list[str]:
        return [*super().__dir__(), *_PART_OF]


@contextlib.contextmanager
def _device_unchecked() -> Iterator[None]:
    token = _CHECK_AVAILABLE.set(False)
    try:
        yield
    finally:
        _CHECK_AVAILABLE.reset(token)


def _part_dict(part: str, value: Any) -> Any:
    """A part given as its config or a mapping → a fresh dict of its settings (checked names)."""
    kind = _PARTS[part]
    if isinstance(value, kind):
        return {name: getattr(value, name) for name in kind.model_fields}
    if not isinstance(value, dict):
        return value  # pydantic reports the wrong type
    unknown = sorted(set(value) - set(kind.model_fields))
    if unknown:
        elsewhere = {k: _PART_OF[k] for k in unknown if k in _PART_OF}
        hint = "".join(f" {k!r} belongs to TrainConfig.{p}." for k, p in elsewhere.items())
        raise ConfigError(
            f"Unknown TrainConfig.{part} field(s) {unknown}. Valid fields: "
            f"{list(kind.model_fields)}.{hint}"
        )
    return dict(value)


#: part name → its config class
_PARTS: dict[str, type[Config]] = {
    part: typing.cast("type[Config]", info.annotation)
    for part, info in TrainConfig.model_fields.items()
}
#: flat setting name → the part holding it
_PART_OF: dict[str, str] = {
    name: part for part, kind in _PARTS.items() for name in kind.model_fields
}
