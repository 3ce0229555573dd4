"""Checkpoints: tensors and plain values only, written atomically, read with ``weights_only``.

A checkpoint is a dict of state dicts (model, objective, optimizer, schedule), the states of
every random generator (the minibatch order, the PINN collocation sampler, torch's global one),
numbers, strings and lists of dicts (the history). ``torch.load(..., weights_only=True)`` reads exactly these
types and never unpickles arbitrary objects. :class:`TrainState` is what a checkpoint holds of a
running training: it writes (:meth:`TrainState.payload`) and restores
(:meth:`TrainState.restore`) them.
"""

from __future__ import annotations

import copy
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from hybridwm._io import atomic_write_bytes, to_jsonable
from hybridwm.dynamics import ODEModel
from hybridwm.errors import FormatError, TrainingError
from hybridwm.training.history import History
from hybridwm.training.losses import Objective
from hybridwm.training.schedule import LearningRate

__all__ = ["CHECKPOINT_VERSION", "TrainState", "load_checkpoint", "save_checkpoint", "weights"]

#: 3: every generator's state, the patience count and the stop reason; 2: objective and schedule
#: state dicts (1: plateau_lr, shooting_starts)
CHECKPOINT_VERSION = 3
RESUMABLE_VERSIONS = (2, 3)  # a version-2 checkpoint resumes with fresh collocation draws
FORMAT = "hybridwm.checkpoint"


def save_checkpoint(path: str | os.PathLike[str], payload: dict[str, Any]) -> Path:
    """Write ``payload`` to ``path`` atomically (a crash leaves the previous file intact)."""
    # serialised in memory first: torch.save on a full disk raises a bare RuntimeError, while the
    # atomic writer turns any OSError into a named OutputError and keeps the previous file
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    atomic_write_bytes(path, buffer.getvalue())
    return Path(path)


def load_checkpoint(
    path: str | os.PathLike[str], map_location: str | torch.device | None = "cpu"
) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (``weights_only=True``).

    Raises:
        FormatError: if the file is missing or is not a hybridwm checkpoint.
    """
    p = Path(path)
    if not p.is_file():
        raise FormatError(f"Checkpoint {str(p)!r} does not exist or is not a file.")
    try:
        payload = torch.load(p, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises several types for foreign or corrupt files
        raise FormatError(
            f"Cannot read checkpoint {str(p)!r} as tensors-only data: {exc}. Only files written "
            f"by hybridwm's Trainer can be resumed from."
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise FormatError(f"{str(p)!r} is not a hybridwm training checkpoint.")
    return payload


def weights(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A detached copy of ``module``'s state dict (a snapshot that later steps do not change)."""
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


@dataclass
class TrainState:
    """Everything a training checkpoint holds, live.

    Attributes:
        model: the model being trained.
        objective: the loss module (its state: the multiple-shooting starts).
        optimizer: the optimizer, or ``None`` when nothing is trainable.
        schedule: the learning-rate schedule, or ``None`` with the optimizer.
        generator: the generator of the minibatch order.
        history: the epochs so far, with the best epoch and score.
        best: the weights of the best epoch so far (a :func:`weights` snapshot).
        since_best: optimizer steps without improvement (the patience count).
        stop: why the epochs ended ("" while they go on): a run resumed from a checkpoint
            written after its last epoch does not train further.
        phase_ends: the step at which patience ended a phase before its planned end
            (``{"encoder": step}``, ``{"physics": step}``); a resumed run keeps these ends.
    """

    model: ODEModel
    objective: Objective
    optimizer: torch.optim.Optimizer | None
    schedule: LearningRate | None
    generator: torch.Generator
    history: History
    best: dict[str, torch.Tensor]
    since_best: int = 0
    stop: str = ""
    phase_ends: dict[str, int] = field(default_factory=dict)

    def payload(
        self,
        epoch: int,
        model: dict[str, torch.Tensor],
        elapsed: float,
        *,
        with_optimizer: bool = True,
    ) -> dict[str, Any]:
        """The checkpoint of ``epoch`` with the ``model`` weights and ``elapsed`` seconds.

        It is a snapshot: copies of every tensor and state, which later steps do not change.
        """
        optimizer = self.optimizer if with_optimizer else None
        optimizer_state = copy.deepcopy(optimizer.state_dict()) if optimizer is not None else {}
        schedule = copy.deepcopy(self.schedule.state_dict()) if self.schedule is not None else {}
        return {
            "format": FORMAT,
            "version": CHECKPOINT_VERSION,
            "epoch": int(epoch),
            "model": model,
            "best_model": self.best,
            "best_epoch": int(self.history.best_epoch),
            "best_score": float(self.history.best_score),
            "optimizer": optimizer_state,
            "schedule": schedule,
            "objective": weights(self.objective),
            "history": to_jsonable(self.history.records),
            "elapsed": float(elapsed),
            "generator": self.generator.get_state(),
            "rng": self._rng_states(),
            "since_best": int(self.since_best),
            "stop": self.stop,
            "phase_ends": dict(self.phase_ends),
        }

    def _pinn_generator(self) -> torch.Generator | None:
        pinn = getattr(self.objective, "pinn", None)
        return getattr(pinn, "generator", None)

    def _rng_states(self) -> dict[str, Any]:
        """The states of the other generators: the PINN sampler's and torch's global ones."""
        states: dict[str, Any] = {"torch": torch.get_rng_state()}
        pinn = self._pinn_generator()
        if pinn is not None:
            states["pinn"] = pinn.get_state()
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            states["cuda"] = torch.cuda.get_rng_state_all()
        return states

    def _set_rng_states(self, states: dict[str, Any]) -> None:
        if "torch" in states:
            torch.set_rng_state(states["torch"].cpu())
        pinn = self._pinn_generator()
        if pinn is not None and "pinn" in states:
            pinn.set_state(states["pinn"].cpu())
        if "cuda" in states and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([s.cpu() for s in states["cuda"]])

    def restore(self, payload: dict[str, Any], path: str | os.PathLike[str]) -> tuple[int, float]:
        """Put a checkpoint back; returns ``(epoch to start from, seconds already spent)``.

        Raises:
            FormatError: the checkpoint is of another version.
            TrainingError: its objective state (multiple-shooting starts) does not fit this run.
        """
        if payload.get("version") not in RESUMABLE_VERSIONS:
            raise FormatError(
                f"Checkpoint {str(path)!r} has version {payload.get('version')!r}; this hybridwm "
                f"resumes versions {list(RESUMABLE_VERSIONS)}. Start the run again (its best weights are "
                f"in the checkpoint's 'best_model'), or resume with the hybridwm that wrote it."
            )
        self.model.load_state_dict(payload["model"])
        if self.optimizer is not None and payload.get("optimizer"):
            self.optimizer.load_state_dict(payload["optimizer"])
        if self.schedule is not None:
            self.schedule.load_state_dict(payload["schedule"])
        self._restore_objective(payload["objective"], path)
        self.best = payload["best_model"]
        self.history.records = list(payload["history"])
        self.history.best_epoch = int(payload["best_epoch"])
        self.history.best_score = float(payload["best_score"])
        self.generator.set_state(payload["generator"].cpu())
        self._set_rng_states(payload.get("rng", {}))
        self.since_best = int(payload.get("since_best", 0))
        self.stop = str(payload.get("stop", ""))
        self.phase_ends = {str(k): int(v) for k, v in payload.get("phase_ends", {}).items()}
        return int(payload["epoch"]) + 1, float(payload["elapsed"])

    def _restore_objective(self, state: dict[str, torch.Tensor], path: Any) -> None:
        """Load the objective's tensors (the learned window starts) when both runs have them."""
        mine = self.objective.state_dict()
        for key, value in state.items():
            if key in mine and tuple(value.shape) != tuple(mine[key].shape):
                raise TrainingError(
                    f"Checkpoint {str(path)!r} holds {key} of shape {tuple(value.shape)}, but "
                    f"this run has {tuple(mine[key].shape)} (multiple shooting: sample positions "
                    f"× hidden states). Resume with the same training data and model."
                )
        self.objective.load_state_dict(state, strict=False)
