"""TrainConfig: every setting of a training run, as a dataclass (TOML/JSON loadable)."""

from __future__ import annotations

import dataclasses
import math

from hybridwm.config import Config
from hybridwm.errors import ConfigError

__all__ = ["ADAPT_PHYSICS_LR", "LR_SCHEDULES", "TrainConfig"]

LR_SCHEDULES = ("cosine", "plateau", "constant")
SHOOTING = ("encoder", "multiple")
ADAPT_PHYSICS_LR = 0.05  # physics learning rate of WorldModel.adapt when physics_lr is None


@dataclasses.dataclass
class TrainConfig(Config):
    """Settings of :class:`~hybridwm.training.Trainer` (and ``WorldModel.fit``).

    Optimization:
        epochs: passes over the training windows (the run may stop earlier: ``patience``,
            ``max_time``).
        batch_size: windows per gradient step.
        lr: Adam learning rate (peak).
        lr_schedule: ``"cosine"`` (decays to ``min_lr`` over the epochs, or over ``max_time``
            if that ends first), ``"plateau"`` (halve when validation stalls), or ``"constant"``.
        min_lr: final learning rate of the cosine schedule / floor of the plateau one.
        physics_lr: peak learning rate of trainable physics coefficients / parameters, which
            follows the same schedule scaled by ``physics_lr / lr`` (``None``: ``lr`` in
            ``WorldModel.fit``; :data:`ADAPT_PHYSICS_LR` = 0.05 in ``WorldModel.adapt``, where
            coefficients such as a pendulum's ``g/l`` must move by whole units within a few
            hundred Adam steps: with 3e-3 a 20 s recalibration recovered a third of the shift,
            with 0.05 all of it).
        weight_decay: decoupled weight decay (AdamW) on the neural-network weights (never on
            physics coefficients).
        grad_clip: clip the global gradient norm to this value (``None``: no clipping).
        lbfgs_steps: optional L-BFGS iterations after Adam, on up to ``lbfgs_windows`` windows
            at the full horizon (0: none).
        lbfgs_windows: number of windows in the L-BFGS batch.

    Losses (each logged separately; the total is the weighted sum):
        horizon: H, steps per training window (multiple shooting over windows).
        stride: distance in samples between window starts.
        curriculum: grow the rollout horizon from ``curriculum_start`` to ``horizon`` over the
            first ``curriculum_fraction`` of training.
        curriculum_start: first horizon of the curriculum.
        curriculum_fraction: fraction of training (epochs or time) the growth takes.
        rollout_weight: weight of the multi-step rollout loss (mean squared error normalized
            per state by the data std).
        pinn_weight: weight of the PINN residual loss: squared mismatch between the model's
            vector field and the (initial) physics at random collocation points. The default
            1e-3 was the best of 0.1 / 0.01 / 1e-3 on every pendulum and cartpole scenario
            (2 seeds; benchmarks/RESULTS.md, "PINN weight"); raise it when the physics is
            trusted more than the data far from the data.
        residual_weight: weight of the minimum-norm penalty ‖f_nn‖² (normalized units) on the
            training states.
        n_collocation: collocation points per step.
        collocation_scale: the collocation box is the training data's range (per state and
            action) scaled by this factor about its center (default 2.5: far enough that the
            residual is held near zero where an off-data rollout goes, e.g. the ±8 rad/s of a
            pendulum spinning over the top when the data swing at ±4 rad/s; with 1.5 the
            hybrid was 2.2× worse than physics-only there, with 2.5 1.5× better).
        collocation_box: explicit box ``{name: (low, high)}`` overriding the scaled range for
            the named states/actions. Angle states embedded periodically by the model are
            sampled over ``[-π, π]`` unless named here.
        pinn_reference: what the PINN term compares the model with when the physics is
            trainable: ``"initial"`` (the physics as it was when training started: keeps the
            model near the given equations), ``"current"`` (the physics as it is now: only the
            residual is penalized, so the physical parameters are free to move to the values
            the data support), or ``"auto"``: ``"current"`` for declared priors (physics with
            named parameters, whose starting values are guesses), ``"initial"`` otherwise.
        shooting: how windows of a model with unmeasured (hidden) coordinates start:
            ``"encoder"`` (the encoder estimates them from each window's first samples) or
            ``"multiple"`` (multiple shooting: a learnable start per sample position, tied to
            the previous windows' predictions by the continuity penalty; the encoder learns to
            reproduce the starts). Ignored for fully measured models.
        continuity_weight: weight of the multiple-shooting continuity penalty.

    Validation and stopping:
        validation_fraction: fraction of episodes held out for validation (0: none; the best
            model is then the one with the lowest training loss).
        validation_horizon: rollout length of validation windows (``None``: whole episodes).
        validate_every: validate every this many epochs.
        patience: stop after this many validations without improvement once the curriculum
            has reached the full horizon (``None``: never).
        max_time: wall-clock budget in seconds (``None``: none).

    Run:
        seed: seeds the split, model initialization, shuffling and collocation sampling.
        solver: integration solver during training (``None``: the model's own).
        threads: ``torch.set_num_threads`` during training (``None``: leave unchanged).
        device: ``"cpu"``, ``"cuda"``, ... (``None``: the model's device).
        dtype: ``"float64"`` or ``"float32"``.
        checkpoint_dir: where ``best.pt`` / ``last.pt`` go (``None``: no files).
        checkpoint_every: also write ``last.pt`` every this many epochs (0: never).
        resume_from: a checkpoint file to resume from.
        progress: show a progress bar with each loss part.
    """

    epochs: int = 200
    batch_size: int = 64
    lr: float = 3e-3
    lr_schedule: str = "cosine"
    min_lr: float = 3e-5
    physics_lr: float | None = None
    weight_decay: float = 0.0
    grad_clip: float | None = 1.0
    lbfgs_steps: int = 0
    lbfgs_windows: int = 512

    horizon: int = 20
    stride: int = 1
    curriculum: bool = True
    curriculum_start: int = 2
    curriculum_fraction: float = 0.3
    rollout_weight: float = 1.0
    pinn_weight: float = 1e-3
    residual_weight: float = 1e-3
    n_collocation: int = 256
    collocation_scale: float = 2.5
    collocation_box: dict[str, tuple[float, float]] | None = None
    pinn_reference: str = "auto"
    shooting: str = "encoder"
    continuity_weight: float = 1.0

    validation_fraction: float = 0.2
    validation_horizon: int | None = None
    validate_every: int = 1
    patience: int | None = 30
    max_time: float | None = None

    seed: int = 0
    solver: str | None = None
    threads: int | None = 1
    device: str | None = None
    dtype: str = "float64"
    checkpoint_dir: str | None = None
    checkpoint_every: int = 0
    resume_from: str | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        def positive_int(name: str, minimum: int = 1) -> None:
            v = getattr(self, name)
            if isinstance(v, bool) or int(v) != v or v < minimum:
                raise ConfigError(f"TrainConfig.{name} must be an integer >= {minimum}. Got {v!r}.")
            setattr(self, name, int(v))

        for name in ("epochs", "batch_size", "horizon", "stride", "curriculum_start"):
            positive_int(name)
        for name in ("lbfgs_steps", "lbfgs_windows", "n_collocation", "checkpoint_every"):
            positive_int(name, 0)
        positive_int("validate_every")
        for name in (
            "lr",
            "min_lr",
            "weight_decay",
            "rollout_weight",
            "pinn_weight",
            "residual_weight",
            "continuity_weight",
        ):
            v = float(getattr(self, name))
            if not math.isfinite(v) or v < 0:
                raise ConfigError(f"TrainConfig.{name} must be a finite number >= 0. Got {v!r}.")
            setattr(self, name, v)
        if self.physics_lr is not None:
            v = float(self.physics_lr)
            if not (math.isfinite(v) and v > 0):
                raise ConfigError(
                    f"TrainConfig.physics_lr must be a finite number > 0 or None (= lr). Got "
                    f"{self.physics_lr!r}."
                )
            self.physics_lr = v
        if self.lr <= 0:
            raise ConfigError(f"TrainConfig.lr must be > 0. Got {self.lr!r}.")
        if self.lr_schedule in ("cosine", "plateau") and self.min_lr > self.lr:
            raise ConfigError(
                f"TrainConfig.min_lr ({self.min_lr!r}) must not exceed lr ({self.lr!r}) with the "
                f"{self.lr_schedule!r} schedule: it is the value the rate decays to. Lower "
                f"min_lr, or use lr_schedule='constant'."
            )
        if self.pinn_reference not in ("auto", "initial", "current"):
            raise ConfigError(
                f"TrainConfig.pinn_reference must be 'auto', 'initial' or 'current'. Got "
                f"{self.pinn_reference!r}."
            )
        if self.shooting not in SHOOTING:
            raise ConfigError(
                f"TrainConfig.shooting must be one of {list(SHOOTING)}. Got {self.shooting!r}."
            )
        if self.lr_schedule not in LR_SCHEDULES:
            raise ConfigError(
                f"TrainConfig.lr_schedule must be one of {list(LR_SCHEDULES)}. "
                f"Got {self.lr_schedule!r}."
            )
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ConfigError(f"TrainConfig.grad_clip must be > 0 or None. Got {self.grad_clip!r}.")
        if not 0 < self.curriculum_fraction <= 1:
            raise ConfigError(
                f"TrainConfig.curriculum_fraction must be in (0, 1]. Got {self.curriculum_fraction!r}."
            )
        if not self.collocation_scale > 0:
            raise ConfigError(
                f"TrainConfig.collocation_scale must be > 0. Got {self.collocation_scale!r}."
            )
        if not 0 <= self.validation_fraction < 1:
            raise ConfigError(
                f"TrainConfig.validation_fraction must be in [0, 1). Got {self.validation_fraction!r}."
            )
        if self.validation_horizon is not None:
            positive_int("validation_horizon")
        if self.patience is not None:
            positive_int("patience")
        if self.max_time is not None and not self.max_time > 0:
            raise ConfigError(
                f"TrainConfig.max_time must be > 0 seconds or None. Got {self.max_time!r}."
            )
        if self.threads is not None:
            positive_int("threads")
        if self.dtype not in ("float64", "float32"):
            raise ConfigError(
                f"TrainConfig.dtype must be 'float64' or 'float32'. Got {self.dtype!r}."
            )
        if self.collocation_box is not None:
            box = {}
            for k, v in dict(self.collocation_box).items():
                lo, hi = (float(a) for a in v)
                if not lo < hi:
                    raise ConfigError(
                        f"TrainConfig.collocation_box[{k!r}] must be (low, high) with low < high. "
                        f"Got {v!r}."
                    )
                box[str(k)] = (lo, hi)
            self.collocation_box = box
