"""One call of ``Trainer.fit``: its state, and the phases its step budget runs through.

A fit runs up to three phases over its optimizer steps: the *encoder-first* phase (a model
with unmeasured coordinates trains its initial-state encoder alone), the *physics-first*
phase (a hybrid with trainable physics trains the physics alone, the residual held at zero,
ending with an L-BFGS polish) and the *joint* phase. Each phase runs the learning-rate
schedule and the horizon curriculum once (a warm restart at each boundary), and its last step
is validated. Patience that runs out inside an encoder-first or physics-first phase ends that
phase, not the fit (:meth:`hybridwm.training.Trainer` records it in ``TrainState.phase_ends``,
so a resumed run keeps the moved end).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from hybridwm.training.batch import Batch
from hybridwm.training.checkpoint import TrainState
from hybridwm.training.schedule import Clock, LearningRate

__all__ = ["Fit", "held_tensors", "keep_phase_ends", "phase_ended", "phase_progress"]


@dataclass
class Fit:
    """One call of :meth:`hybridwm.training.Trainer.fit`: the checkpointable state and the
    data it runs over."""

    state: TrainState
    groups: list[Batch]
    sizes: list[int]
    val_groups: list[Batch]
    params: list[torch.nn.Parameter]
    device: torch.device
    #: the checkpoint of the last completed epoch (what an interrupted run resumes from)
    snapshot: dict[str, Any] | None = None
    #: the epoch whose weights ``best.pt`` holds (-1: not written by this run)
    best_written: int = -1
    #: optimizer steps done so far (over the whole run, resumed runs included)
    done: int = 0
    #: the value of ``done`` at the last validation, and at the last comparable score
    validated_at: int = 0
    compared_at: int = 0
    #: the encoder-first phase: its last step, and the dynamics' tensors it holds
    encoder_steps: int = 0
    dynamics_held: list[torch.nn.Parameter] = field(default_factory=list)
    #: the physics-first phase: its last step, and the residual's tensors it holds at zero
    physics_steps: int = 0
    held: list[torch.nn.Parameter] = field(default_factory=list)
    #: the L-BFGS polish of the physics: the step it starts at (-1: none) and its iterations
    polish_at: int = -1
    polish_steps: int = 0
    # set when the epochs start (there is something to train)
    clock: Clock = field(init=False)
    optimizer: torch.optim.Optimizer = field(init=False)
    schedule: LearningRate = field(init=False)


def phase_progress(fit: Fit) -> float:
    """Progress within the current phase: the learning-rate schedule and the horizon
    curriculum run once over each phase (encoder first, physics first, joint; a warm restart
    at each boundary), so the physics converges at a low rate before the residual starts."""
    bounds = [b for b in (fit.encoder_steps, fit.physics_steps) if b]
    if not bounds:
        return fit.clock.progress(fit.done)
    start = 0
    for end in [*bounds, fit.clock.total_steps]:
        if fit.done < end:
            return (fit.done - start) / max(end - start, 1)
        start = end
    return 1.0


def keep_phase_ends(fit: Fit) -> None:
    """Keep the phase ends that patience moved before a checkpoint (see
    :meth:`Trainer._end_phase`) in a run resumed from it."""
    ends = fit.state.phase_ends
    if "physics" in ends and fit.physics_steps:
        fit.physics_steps = ends["physics"]
        if fit.polish_steps:
            fit.polish_at = fit.physics_steps - fit.polish_steps
    if "encoder" in ends and fit.encoder_steps:
        fit.encoder_steps = ends["encoder"]


def phase_ended(fit: Fit) -> bool:
    """Whether the last step ended the encoder-first or the physics-first phase."""
    return fit.done in (fit.encoder_steps, fit.physics_steps) and fit.done > 0


def held_tensors(fit: Fit) -> list[torch.nn.Parameter]:
    """The tensors the current step leaves alone: the dynamics' in the encoder-first phase,
    the residual's in the physics-first phase, none after."""
    if fit.done < fit.encoder_steps:
        return fit.dynamics_held
    if fit.done < fit.physics_steps:
        return fit.held
    return []
