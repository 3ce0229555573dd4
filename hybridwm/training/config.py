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
    "PHYSICS_LR",
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
#: physics learning rate of a training run when physics_lr is None: the fastest robust rate of
#: a sweep (benchmarks/bench_step_cost.py --physics-lr-sweep: parameters 30% off came within 1%
#: in 83 steps, against 246 with 3e-3, 74-637 with 3e-2 and 410-1056 with 0.1)
PHYSICS_LR = 1e-2
#: the budget in optimizer steps when neither ``epochs`` nor ``steps`` is given
DEFAULT_STEPS = 2000


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
    """Optimization: the budget (optimizer steps or epochs), AdamW's learning rate and its
    schedule, L-BFGS."""

    epochs: Integer | None = Field(None, ge=1)
    """The budget as passes over the training windows instead (``epochs × ceil(windows /
    batch_size)`` steps); give ``steps`` or ``epochs``, not both."""
    batch_size: Integer = Field(64, ge=1)
    """Windows per gradient step."""
    lr: float = Field(3e-3, gt=0, allow_inf_nan=False)
    """Adam learning rate (peak)."""
    lr_schedule: LRSchedule = "cosine"
    """``"cosine"`` (decays to ``min_lr`` over the step budget), ``"plateau"`` (halve when
    validation stalls), or ``"constant"``."""
    min_lr: NonNegative = 3e-5
    """Final learning rate of the cosine schedule / floor of the plateau one."""
    physics_lr: float | None = None
    """Peak learning rate of trainable physics coefficients / parameters, which follows the same
    schedule scaled by ``physics_lr / lr`` (``None``: :data:`PHYSICS_LR` = 1e-2 in training;
    :data:`ADAPT_PHYSICS_LR` = 0.05 in ``WorldModel.adapt``, where coefficients such as a
    pendulum's ``g/l`` must move by whole units within a few hundred Adam steps: with 3e-3 a 20 s
    recalibration recovered a third of the shift, with 0.05 all of it)."""
    physics_first: float = Field(0.7, ge=0, lt=1)
    """Fraction of the step budget in which a hybrid with trainable physics trains its physics
    alone (the residual, which starts at exactly zero, held there; its first part trains only
    the encoder of hidden coordinates, see ``encoder_first``) before physics and residual train
    together. Its last step is always validated, so the best weights can never be worse
    on validation than the physics fitted on its own within the same budget: the physics-only
    fit is the baseline the hybrid must beat. Also lets the physical parameters converge before
    a residual can absorb what they should explain (identifiability). 0: both from the start.
    Ignored for models without a residual or without trainable physics. The default 0.7 was
    chosen by a sweep of 0 / 0.5 / 0.7 (declared pendulum prior, exact on ``pendulum``,
    incomplete on ``pendulum-rig``, 500 steps, seeds 0-2; benchmarks/RESULTS.md, "Physics
    first"): 0 left the exact prior's hybrid 3.7 decades behind its physics; 0 and 0.5 let
    the residual add error on the rig's near-inverted starts (2.4x and 2.1x the physics,
    medians); 0.7 kept the rig at 0.97x its physics and the exact prior within 1.6x (id) and
    5.4x (ood-state) of it."""
    encoder_first: float = Field(0.3, ge=0, lt=1)
    """Fraction of the steps that train the physics (a hybrid's physics-first phase, the whole
    budget of a physics-only model) in which a model with unmeasured (hidden) coordinates
    trains its initial-state encoder alone, the physics and the residual held at their
    starting values; its last step is always validated. So the joint phase keeps its steps. A
    randomly initialised encoder gives wrong hidden starts (a velocity), and physical
    parameters trained against them absorb the error: on EMPS the joint fit moved the published
    mass by -24 % and scored 33-43 mm, where the encoder trained against the published physics
    scores 8.4 mm (benchmarks/RESULTS.md, "Session 8 (issues 12, 17)"). 0: none. Ignored for
    fully observed models, learned models (no physics to train an encoder against) and when
    the encoder or the dynamics has nothing to train."""
    physics_polish: Integer = Field(100, ge=0)
    """L-BFGS iterations (on a fixed batch of ``lbfgs_windows`` windows) that end a hybrid's
    physics-first phase, on the trainable physics alone (the few physical parameters or
    coefficients), in place of that many of the phase's last Adam steps (at most half of
    them); they count in the step budget, one iteration as one step. Adam, in the phase's
    shorter budget, leaves an exact prior's parameters about 1e-6 off (pendulum, 250 steps);
    the second-order steps bring them closer. 0: Adam only."""
    closure: Literal["auto", "off"] = "auto"
    """``"auto"``: a hybrid of a declared prior with trainable parameters, every state measured,
    writes what its residual learned as equations (:mod:`hybridwm.models.closure`): it trains
    ``1 - closure_fraction`` of the steps, regresses what the prior misses (read from the
    residual network and from the data's own differences, the cleaner reading used) on a
    generic library (terms the prior already has excluded; divided by an equation's
    state-dependent denominator where it has one), adds each row explained to held-out R² >= ``closure_min_r2``
    as new parameters of the prior, and trains that closed hybrid for the rest of the steps;
    the one of the two that validates better is kept. With no row explained the first model
    trains on for the rest of the steps. ``"off"``: one plain fit. Skipped (one plain fit) for
    other models, hidden states, observation equations, no validation data, an ``epochs``
    budget or ``resume_from``. Fraction and thresholds were chosen, not swept."""
    closure_fraction: float = Field(0.5, gt=0, lt=1)
    """Fraction of the step budget that trains the closed hybrid (see ``closure``)."""
    closure_min_r2: float = Field(0.9, gt=0, lt=1)
    """Held-out R² a residual row's sparse fit must reach to be written into the prior."""
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

    steps: Integer | None = Field(None, ge=1)
    """The budget in optimizer steps: the run ends after exactly this many (the last epoch may
    stop part-way), so every model given the same data and ``steps`` gets the same training,
    however fast the machine is. With neither ``steps`` nor ``epochs``: :data:`DEFAULT_STEPS`
    (2000). The run may stop earlier on ``patience`` or the ``max_time`` safety cap."""

    @field_validator("physics_lr")
    @classmethod
    def _finite_positive(cls, value: float | None) -> float | None:
        if value is not None and not (math.isfinite(value) and value > 0):
            raise ValueError("must be a finite number > 0 or None (= lr)")
        return value

    @model_validator(mode="after")
    def _one_budget(self) -> OptimConfig:
        if self.steps is not None and self.epochs is not None:
            raise ConfigError(
                f"TrainConfig.optim has two budgets, steps={self.steps!r} and "
                f"epochs={self.epochs!r}. Give one: `steps` (optimizer steps, the same for every "
                f"data size) or `epochs` (passes over the windows); set the other to None."
            )
        return self

    def total_steps(self, per_epoch: int) -> int:
        """The step budget: ``steps``, or ``epochs × per_epoch``, or :data:`DEFAULT_STEPS`.

        Args:
            per_epoch: optimizer steps in one pass over the training windows (>= 1).
        """
        if self.steps is not None:
            return self.steps
        if self.epochs is not None:
            return self.epochs * max(int(per_epoch), 1)
        return DEFAULT_STEPS

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
    """Fraction of the step budget the growth takes."""


class LossConfig(_Part):
    """The objective: the weight of each term (each is logged separately; the total is the
    weighted sum), the PINN collocation box and reference, and multiple shooting."""

    rollout_weight: NonNegative = 1.0
    """Weight of the multi-step rollout loss (mean squared error normalized per state by the data
    std)."""
    pinn_weight: NonNegative = 0.1
    """Weight of the PINN residual loss: squared mismatch between the model's vector field and the
    (initial) physics at random collocation points (weighted by ``pinn_region``). The default 0.1
    was chosen by a sweep of 1e-3 / 1e-2 / 0.1 / 1 with the zero-started, APHYNITY-trained
    residual (pendulum-rig and pendulum with 2% noise, 800 steps; benchmarks/RESULTS.md, "PINN
    weight, session 4"): 1e-3 and 1e-2 let the residual diverge near the inverted position on
    the rig, 1 held it back on the data; 0.1 never diverged and beat the physics on id and
    ood-action of both systems."""
    residual_weight: NonNegative = 1.0
    """Weight of the minimum-norm penalty ‖f_nn‖² (normalized derivative units) on the training
    states, relative to the rollout loss, at the start of training. With ``multiplier=
    "adaptive"`` the effective weight is ``residual_weight / λ``, where the trajectory multiplier
    λ grows during training (APHYNITY), so the residual carries only what the physics lacks."""
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
    pinn_region: Literal["off-data", "box"] = "off-data"
    """Where the PINN term speaks: ``"off-data"`` weights each collocation point by its
    distance from the training samples (``1 - exp(-(d / support_radius)²)`` in the residual's
    normalized inputs), so it pulls the residual to the physics only where the data never went
    and leaves it free where they did; ``"box"`` weighs the whole box alike (it then also
    fights the residual's corrections on the data)."""
    support_radius: float = Field(0.5, gt=0, allow_inf_nan=False)
    """Length scale of the ``"off-data"`` weighting, in the residual's normalized inputs (states
    and actions in units of their std, angles as sin/cos)."""
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
    """Weight of the multiple-shooting continuity penalty."""

    multiplier: Literal["adaptive", "fixed"] = "adaptive"
    """``"adaptive"`` (APHYNITY, Yin et al. 2021): minimise ‖f_nn‖² subject to fitting the
    trajectories, with the trajectory loss's multiplier λ (starting at 1) raised by dual ascent
    after every optimizer step, ``λ += multiplier_rate · L / L_ref`` (``L_ref``: the first
    rollout loss seen at the current horizon, so the rate is free of units and data scale).
    While the physics explains the data badly λ grows fast and the residual may grow; once the
    data are fitted λ settles and the residual stays small. ``"fixed"``: λ = 1 throughout (a
    constant penalty of weight ``residual_weight``)."""
    multiplier_rate: NonNegative = 1.0
    """Step of the dual ascent on λ per optimizer step, per unit of relative rollout loss."""

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
    """Validate at the end of each epoch that ends at least this many optimizer steps after the
    last validation (1: every epoch), and always at the end of the run."""
    patience: Integer | None = Field(1000, ge=1)
    """Stop after this many optimizer steps without a better validation score, counted once the
    curriculum has reached the full horizon (``None``: never). Counted in steps, so the same
    setting means the same on 20 windows and on 20,000. Inside an encoder-first or
    physics-first phase it ends that phase instead of the run (the next phase starts at once,
    with a patience of its own; ``History`` marks the epoch with ``phase_end``): a plateau of
    the physics alone says it has converged, not that the residual cannot help. Before this, a
    hybrid with a declared prior and a 2000-step budget stopped after 1400 physics-only steps
    and never trained its residual (benchmarks/RESULTS.md, "Session 15")."""
    max_time: float | None = Field(None, gt=0)
    """A wall-clock safety cap in seconds (``None``: none). It never shapes the schedules (those
    follow the step budget); when it stops a run, ``History.stop_reason`` is ``"max_time"`` and
    the result depends on the machine's speed."""


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
        optim: :class:`OptimConfig`: the budget (steps or epochs), batch size, learning rates and schedule, clipping,
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
