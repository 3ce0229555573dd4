"""Schedules over training: the learning rate, the rollout-horizon curriculum, and the clock.

Training *progress* is the fraction of the step budget done (optimizer steps, never wall-clock
time). The cosine learning rate and the horizon curriculum are closed-form functions of it; the
plateau schedule reacts to validation scores.
"""

from __future__ import annotations

import math
import time
from typing import Any

import torch
from torch.optim.lr_scheduler import LambdaLR, ReduceLROnPlateau

from hybridwm.training.config import OptimConfig, WindowConfig

__all__ = ["PLATEAU_PATIENCE", "Clock", "LearningRate", "cosine_lr", "curriculum_horizon"]

PLATEAU_PATIENCE = 5  # the plateau schedule halves the rate after this many scores without gain


def cosine_lr(progress: float, lr: float, min_lr: float) -> float:
    """Cosine decay from ``lr`` at progress 0 to ``min_lr`` at progress 1 (clamped outside)."""
    p = min(max(progress, 0.0), 1.0)
    return min_lr + (lr - min_lr) * 0.5 * (1 + math.cos(math.pi * p))


def curriculum_horizon(progress: float, windows: WindowConfig) -> int:
    """The rollout horizon at ``progress``: grows from ``curriculum_start`` to ``horizon`` over
    the first ``curriculum_fraction`` of training (always ``horizon`` without a curriculum)."""
    if not windows.curriculum:
        return windows.horizon
    start = min(windows.curriculum_start, windows.horizon)
    frac = min(1.0, progress / windows.curriculum_fraction)
    return round(start + (windows.horizon - start) * frac)


class Clock:
    """The step budget of a run, its progress, and the wall-clock safety cap.

    Progress counts optimizer steps only, so the schedules (learning rate, horizon curriculum)
    are the same on a busy and an idle machine; ``max_time`` only stops the run.

    Args:
        total_steps: the budget in optimizer steps (>= 1).
        max_time: the wall-clock safety cap in seconds (``None``: none).
        elapsed: seconds already spent (by the run being resumed).
    """

    def __init__(self, total_steps: int, max_time: float | None, elapsed: float = 0.0) -> None:
        self.total_steps, self.max_time = max(int(total_steps), 1), max_time
        self._start = time.perf_counter() - elapsed

    def elapsed(self) -> float:
        """Seconds since the run started."""
        return time.perf_counter() - self._start

    def progress(self, done: int) -> float:
        """Fraction of the budget done when ``done`` optimizer steps are done."""
        return done / self.total_steps

    def out_of_time(self) -> bool:
        """True once the safety cap is passed."""
        return self.max_time is not None and self.elapsed() > self.max_time


class LearningRate:
    """The learning rate of every param group over training, set by ``torch.optim.lr_scheduler``.

    A param group may carry ``lr_scale`` (the physics group: ``physics_lr / lr``); its rate is the
    schedule's rate times that scale. The first group has scale 1: its rate is the base rate.

    * ``"cosine"``: a :class:`~torch.optim.lr_scheduler.LambdaLR` whose base rates are the
      groups' scales and whose factor is :func:`cosine_lr` at the current progress (set by
      :meth:`at` before each step). It is built at the first step, so that every later update
      follows an ``optimizer.step()``.
    * ``"plateau"``: a :class:`~torch.optim.lr_scheduler.ReduceLROnPlateau` that halves every
      rate (down to ``min_lr`` times the scale) after :data:`PLATEAU_PATIENCE` comparable scores
      without improvement (:meth:`observe`).
    * ``"constant"``: the rates stay ``lr`` times the scale.

    Build it before loading an optimizer state (it sets the rates), and restore its own state
    with :meth:`load_state_dict`.

    Args:
        optimizer: the optimizer whose groups it drives.
        optim: the optimization settings (``lr``, ``min_lr``, ``lr_schedule``).
    """

    def __init__(self, optimizer: torch.optim.Optimizer, optim: OptimConfig) -> None:
        self.optimizer, self.optim = optimizer, optim
        self.progress = 0.0
        scales = [g.get("lr_scale", 1.0) for g in optimizer.param_groups]
        for group, scale in zip(optimizer.param_groups, scales, strict=True):
            group["lr"] = optim.lr * scale
        self._cosine: LambdaLR | None = None
        self._plateau: ReduceLROnPlateau | None = None
        if optim.lr_schedule == "plateau":
            self._plateau = ReduceLROnPlateau(
                optimizer,
                mode="min",
                factor=0.5,
                patience=PLATEAU_PATIENCE - 1,
                threshold=0.0,
                min_lr=[optim.min_lr * s for s in scales],
                eps=0.0,
            )

    @property
    def lr(self) -> float:
        """The base rate now (the first group's)."""
        return float(self.optimizer.param_groups[0]["lr"])

    def at(self, progress: float) -> float:
        """Set the rates for a step at ``progress`` (fraction of training done); the base rate."""
        if self.optim.lr_schedule == "cosine":
            self.progress = progress
            if self._cosine is None:
                for group in self.optimizer.param_groups:
                    group["initial_lr"] = group.get("lr_scale", 1.0)
                self._cosine = LambdaLR(self.optimizer, self._cosine_factor)
            else:
                self._cosine.step()
        return self.lr

    def _cosine_factor(self, _: int) -> float:
        return cosine_lr(self.progress, self.optim.lr, self.optim.min_lr)

    def start(self, score: float) -> None:
        """The score of the initial weights: the plateau schedule's first best."""
        if self._plateau is not None:
            self._plateau.best = score

    def observe(self, score: float) -> None:
        """A comparable score at the end of an epoch (the plateau schedule may lower the rates)."""
        if self._plateau is not None:
            self._plateau.step(score)

    def state_dict(self) -> dict[str, Any]:
        """The schedule's own state (the plateau counters; the others depend on progress only)."""
        return {} if self._plateau is None else self._plateau.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (the rates themselves come with the optimizer's state)."""
        if self._plateau is not None and state:
            self._plateau.load_state_dict(state)
