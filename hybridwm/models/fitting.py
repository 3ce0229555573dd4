"""What ``fit`` and ``adapt`` share: training windows and the warnings about data and results."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from hybridwm.data import TrajectorySet, make_windows
from hybridwm.dynamics import SOLVERS, ODEModel
from hybridwm.errors import ConfigError, DataError
from hybridwm.models.building import DTYPES, build_model, physics_module, resolve_angles
from hybridwm.models.names import check_names, resolve_names
from hybridwm.models.normalization import fit_gate, fit_normalizer
from hybridwm.models.spec import ModelSpec
from hybridwm.training import History, TrainConfig, Trainer

__all__ = [
    "Prepared",
    "check_train_config",
    "prepare",
    "run_trainer",
    "training_windows",
    "warn_bounds",
    "warn_constant",
    "warn_untrained",
]


def check_train_config(config: Any) -> TrainConfig:
    """``config`` checked to be a TrainConfig whose solver override (if any) exists.

    Raises:
        ConfigError: not a TrainConfig. UnknownNameError: unknown solver.
    """
    if not isinstance(config, TrainConfig):
        raise ConfigError(f"`config` must be a TrainConfig. Got {type(config).__name__}.")
    if config.solver is not None:
        SOLVERS[config.solver]  # UnknownNameError lists the valid names
    return config


def training_windows(
    data: TrajectorySet,
    validation: TrajectorySet | None,
    cfg: TrainConfig,
    encoder_window: int | None,
) -> tuple[TrajectorySet, TrajectorySet | None, Any, Any]:
    """Split off validation episodes (seeded) and cut training and validation windows.

    Args:
        data: the training episodes.
        validation: validation episodes, or None for ``cfg.validation_fraction`` of ``data``'s
            (when it has at least 2 episodes).
        cfg: the training settings (``horizon``, ``stride``, ``validation_horizon``, ``seed``).
        encoder_window: observations the encoder reads, or None when every state is measured.

    Returns:
        ``(train, validation, windows, val_windows)``; the last two are windows cut from the
        first two; ``validation`` and ``val_windows`` are None without validation.

    Raises:
        ShapeError: validation names differ from the training data's.
        ConfigError: windows shorter than the encoder's input.
        DataError: episodes too short for the horizon or for validation.
    """
    if validation is None and cfg.validation_fraction > 0 and len(data) >= 2:
        train, validation = data.split(
            (1 - cfg.validation_fraction, cfg.validation_fraction), seed=cfg.seed
        )
    else:
        train = data
    if validation is not None:
        check_names(
            validation,
            data.state_names,
            data.action_names,
            what="Validation data",
            against="the training data have",
        )
    windows = make_windows(train, cfg.horizon, stride=cfg.stride)
    if encoder_window is not None and cfg.horizon + 1 < encoder_window:
        raise ConfigError(
            f"The encoder reads {encoder_window} observations but windows hold only "
            f"horizon+1 = {cfg.horizon + 1}; raise horizon or lower encoder_window."
        )
    val_windows = None
    if validation is not None:
        vh = cfg.validation_horizon or int(validation.lengths.min()) - 1
        if vh < 1:
            raise DataError("Validation episodes need at least 2 samples each.")
        val_windows = make_windows(validation, vh, stride=vh)
    return train, validation, windows, val_windows


@dataclass
class Prepared:
    """An untrained, normalized model, its training windows and the training episodes they
    were cut from (validation episodes split off; see :func:`prepare`)."""

    model: ODEModel
    state_names: tuple[str, ...]
    observed_names: tuple[str, ...]
    action_names: tuple[str, ...]
    angles: tuple[str, ...]
    windows: Any
    val_windows: Any
    train: TrajectorySet


def prepare(
    spec: ModelSpec,
    physics: Any,
    data: TrajectorySet,
    validation: TrajectorySet | None,
    cfg: TrainConfig,
) -> Prepared:
    """Resolve the names and angles, cut the windows, build the model (seeded with
    ``cfg.seed``) and fit its normalization (and a hybrid's support gate) on the training
    episodes.

    Args:
        spec: the validated architecture.
        physics: the physics object, or None.
        data: the training episodes.
        validation: validation episodes, or None (see :func:`training_windows`).
        cfg: the training settings (``dtype``, ``seed``, windows).

    Raises:
        ShapeError: the data's names do not match the physics or ``spec.state_names``.
        ConfigError, DataError: see :func:`training_windows`.
    """
    dtype = DTYPES[cfg.dtype]
    probe = physics_module(physics, spec.trainable_physics, dtype)
    names, actions = resolve_names(spec, data.state_names, data.action_names, probe)
    observed = tuple(data.state_names)
    window = spec.encoder_window if any(n not in observed for n in names) else None
    train, held, windows, val_windows = training_windows(data, validation, cfg, window)
    angles = resolve_angles(spec, names, physics, data)
    torch.manual_seed(cfg.seed)
    model = build_model(spec, physics, names, observed, actions, dtype, angles)
    fit_normalizer(model, train)
    fit_gate(model, train, held)
    return Prepared(model, names, observed, actions, angles, windows, val_windows, train)


def run_trainer(
    model: ODEModel, cfg: TrainConfig, ready: Prepared, keep: Callable[[History], None]
) -> History:
    """Train ``model`` on ``ready``'s windows with a :class:`~hybridwm.training.Trainer`;
    ``keep`` receives the history, also when training stops with an error or an interrupt
    (then with what was recorded so far). The model is left in eval mode."""
    trainer = Trainer(model, cfg)
    try:
        keep(trainer.fit(ready.windows, ready.val_windows))
    finally:
        keep(trainer.history)
        model.eval()
    return trainer.history


def warn_constant(data: TrajectorySet) -> None:
    """Warn about measured or action columns that never change (nothing to learn from)."""
    for kind, names, arrays in (
        ("state", data.state_names, [tr.x for tr in data]),
        ("action", data.action_names, [tr.u for tr in data]),
    ):
        if not names:
            continue
        a = np.concatenate(arrays)
        with np.errstate(all="ignore"):
            spread = np.nanmax(a, 0) - np.nanmin(a, 0)
        for j in np.flatnonzero(spread <= 1e-12 * np.maximum(1.0, np.abs(np.nanmax(a, 0)))):
            warnings.warn(
                f"The {kind} column {names[j]!r} is constant (= {float(a[0, j])!r}) over all "
                f"{len(data)} episodes: the model cannot learn how it moves or acts. Check the "
                f"column mapping (is it the right column?) or drop it.",
                UserWarning,
                stacklevel=3,
            )


def warn_bounds(module: nn.Module | None) -> None:
    """Warn when a trained physical parameter of ``module`` (a physics term with declared
    bounds) ended at (within 1e-3 of) one of its bounds."""
    values = getattr(module, "parameter_values", None)
    bounds = getattr(module, "_bounds", None)
    free = getattr(module, "free_parameter_names", None)
    if not callable(values) or bounds is None or free is None:
        return
    vals = values()
    for name, (lo, hi) in zip(free, bounds, strict=False):
        v = vals[name]
        for side, b in (("lower", lo), ("upper", hi)):
            if np.isfinite(b) and abs(v - b) <= 1e-3 * max(abs(b), abs(v), 1e-12):
                warnings.warn(
                    f"The fitted physical parameter {name!r} = {v:.6g} ended at its {side} "
                    f"bound {b:g}: the data push it out of the range you declared. Check the "
                    f"bound, the units, or the equation it appears in (a missing term is often "
                    f"absorbed by the nearest parameter).",
                    UserWarning,
                    stacklevel=3,
                )


def warn_untrained(history: History) -> None:
    """Warn when training ran but never beat the initial weights (so they were kept)."""
    if (
        len(history) > 1
        and history.best_epoch == 0
        and history.stop_reason not in ("", "nothing to train")
    ):
        warnings.warn(
            f"Training ran {len(history) - 1} epochs (stopped: {history.stop_reason}) but "
            f"never improved the validation error of the initial weights, so the returned "
            f"model is the untrained one (for a hybrid: its physics alone, as the residual "
            f"starts at zero). Try a larger budget (steps), a shorter validation_horizon, a "
            f"lower lr, or more data.",
            UserWarning,
            stacklevel=3,
        )
