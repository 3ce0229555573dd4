"""Trainer: fits an :class:`~hybridwm.dynamics.ODEModel` to training windows.

It works on torch modules and losses only (it never needs the ``WorldModel`` facade): AdamW with
a cosine or plateau learning-rate schedule (:mod:`hybridwm.training.schedule`), gradient
clipping, a horizon curriculum, validation rollouts with early stopping, a wall-clock budget,
seeding, a rich progress bar showing each loss part, atomic best/last checkpoints and resuming
(:mod:`hybridwm.training.checkpoint`), an optional L-BFGS finish, and a clean stop (best weights
restored, :class:`~hybridwm.errors.TrainingError` raised) when a loss turns NaN/inf or the
solver fails.

One epoch is three steps: the training steps (:meth:`Trainer._train_epoch`), the score
(:meth:`Trainer._score`: validation, or the training loss without validation data) and the
bookkeeping of the best weights and checkpoints (:meth:`Trainer._keep_best`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hybridwm.data.windows import Windows
from hybridwm.dynamics import ODEModel
from hybridwm.errors import SimulationError, TrainingError
from hybridwm.training.batch import Batch, to_batch
from hybridwm.training.checkpoint import TrainState, load_checkpoint, save_checkpoint, weights
from hybridwm.training.config import PHYSICS_LR, TrainConfig
from hybridwm.training.history import History
from hybridwm.training.lbfgs import lbfgs_polish
from hybridwm.training.losses import Objective
from hybridwm.training.phases import (
    Fit,
    held_tensors,
    keep_phase_ends,
    phase_ended,
    phase_progress,
)
from hybridwm.training.pinn import support_points
from hybridwm.training.progress import EpochBar, fmt
from hybridwm.training.schedule import Clock, LearningRate, curriculum_horizon
from hybridwm.training.validation import evaluate_windows

__all__ = ["History", "Trainer", "evaluate_windows"]


class Trainer:
    """Fits an ODEModel by minimizing an :class:`Objective` over training windows.

    Args:
        model: the module to train (modified in place; it ends with the best weights).
        config: the settings (default ``TrainConfig()``).
        objective: the loss (default ``Objective(model, config, config.solver)``).

    Example:
        >>> trainer = Trainer(model, TrainConfig(epochs=50, horizon=10))   # doctest: +SKIP
        >>> history = trainer.fit(make_windows(train, 10), make_windows(val, 100))
    """

    def __init__(
        self,
        model: ODEModel,
        config: TrainConfig | None = None,
        *,
        objective: Objective | None = None,
    ) -> None:
        self.model = model
        self.config = config or TrainConfig()
        self.objective = objective
        self.history = History()

    def fit(self, train: Windows, validation: Windows | None = None) -> History:
        """Train on ``train`` windows, validating on ``validation`` windows.

        Args:
            train: training windows (``make_windows(data, config.horizon)``).
            validation: validation windows (whole episodes or long windows), or ``None``.

        Returns:
            The :class:`History` (also at ``self.history``). The model holds the best weights.

        Raises:
            TrainingError: a loss or gradient became NaN/inf, or the solver failed; the best
                weights are restored (and saved to ``best.pt`` if ``checkpoint_dir`` is set)
                before raising. The history is at ``error.history``.
            KeyboardInterrupt: re-raised after restoring the best weights, saving them and (with
                ``checkpoint_dir``) writing ``last.pt``, the state after the last completed epoch,
                which ``resume_from`` continues exactly. The exception carries that checkpoint
                (``exc.checkpoint``, for :func:`save_checkpoint`; absent when the interrupt came
                before epoch 1 started) and the history (``exc.history``).
        """
        threads = self.config.run.threads
        old_threads = torch.get_num_threads()
        if threads is not None:
            torch.set_num_threads(threads)
        try:
            return self._fit(train, validation)
        finally:
            if threads is not None:
                torch.set_num_threads(old_threads)

    # ------------------------------------------------------------------ setup
    def _fit(self, train: Windows, validation: Windows | None) -> History:
        cfg = self.config
        fit = self._prepare(train, validation)
        state = fit.state
        start_epoch, elapsed = 1, 0.0
        if cfg.run.resume_from:
            payload = load_checkpoint(cfg.run.resume_from, map_location=fit.device)
            start_epoch, elapsed = state.restore(payload, cfg.run.resume_from)
        else:
            self._start(fit)
        if state.optimizer is None or state.schedule is None:
            self.history.stop_reason = "nothing to train"
            return self.history
        fit.optimizer, fit.schedule = state.optimizer, state.schedule
        fit.done = self.history.steps
        fit.validated_at = fit.compared_at = fit.done
        per_epoch = len(self._minibatches(fit.sizes, torch.Generator()))
        fit.clock = Clock(cfg.optim.total_steps(per_epoch), cfg.validation.max_time, elapsed)
        self._physics_first(fit)
        self._encoder_first(fit)
        keep_phase_ends(fit)
        fit.snapshot = state.payload(start_epoch - 1, weights(self.model), elapsed)
        try:
            epoch = self._epochs(fit, start_epoch) if not state.stop else start_epoch - 1
            self.history.stop_reason = state.stop or self._budget_name()
            self.model.load_state_dict(state.best)
            if cfg.optim.lbfgs_steps:
                self._lbfgs(fit)
        except KeyboardInterrupt as exc:
            self._interrupted(fit, exc)
            raise
        if cfg.run.checkpoint_dir:
            self._write("best.pt", state.payload(epoch, state.best, fit.clock.elapsed()))
        return self.history

    def _encoder_first(self, fit: Fit) -> None:
        """Set the encoder-first phase, when the model has an encoder to train and physics in its
        dynamics: the first ``encoder_first`` of the steps that train the physics (of the
        physics-first phase when there is one, else of the budget); the dynamics' tensors are
        held in it. Called after :meth:`_physics_first`, whose polish it leaves room for."""
        model, optim = self.model, self.config.optim
        encoder, physics = model.encoder, getattr(model.dynamics, "physics", None)
        if encoder is None or physics is None or not optim.encoder_first:
            return
        if not any(p.requires_grad for p in encoder.parameters()):
            return
        fit.dynamics_held = [p for p in model.dynamics.parameters() if p.requires_grad]
        if not fit.dynamics_held:
            return
        span = fit.physics_steps - fit.polish_steps if fit.physics_steps else fit.clock.total_steps
        fit.encoder_steps = min(round(optim.encoder_first * span), span - 1)

    def _physics_first(self, fit: Fit) -> None:
        """Set the physics-first phase (``physics_first`` of the budget) and the L-BFGS polish
        that ends it, when the model has a residual and trainable physics; the residual's
        tensors are held (no gradient) in it."""
        dynamics, optim = self.model.dynamics, self.config.optim
        physics = getattr(dynamics, "physics", None)
        residual = getattr(dynamics, "residual", None)
        if physics is None or residual is None:
            return
        if not any(p.requires_grad for p in physics.parameters()):
            return
        fit.held = [p for p in residual.parameters() if p.requires_grad]
        if not fit.held:
            return
        total = fit.clock.total_steps
        fit.physics_steps = min(round(optim.physics_first * total), total - 1)
        fit.polish_steps = min(optim.physics_polish, fit.physics_steps // 2)
        if fit.polish_steps:
            fit.polish_at = fit.physics_steps - fit.polish_steps

    def _end_phase(self, fit: Fit, record: dict[str, Any]) -> bool:
        """Patience ran out: end the encoder-first or physics-first phase now (the physics
        phase after its L-BFGS polish), instead of the fit, so that what follows still gets
        its steps and its own patience; ``False`` when no such phase is running. A plateau
        of the physics alone says the physics has converged, not that the residual cannot
        help: without this a long budget stopped before the residual ever trained."""
        ends = fit.state.phase_ends
        if fit.done < fit.encoder_steps:
            fit.encoder_steps = ends["encoder"] = fit.done
            record["phase_end"] = "encoder: patience"
        elif fit.done < fit.physics_steps:
            if fit.polish_steps:  # the polish (still to come: it ends the phase) runs next
                fit.polish_at = fit.done
            fit.physics_steps = ends["physics"] = fit.done + fit.polish_steps
            record["phase_end"] = "physics: patience"
        else:
            return False
        fit.state.since_best = 0
        return True

    def _budget_name(self) -> str:
        """The stop reason of a run that spent its budget: ``"epochs"`` or ``"steps"``."""
        return "epochs" if self.config.optim.epochs is not None else "steps"

    def _prepare(self, train: Windows, validation: Windows | None) -> Fit:
        """Device and dtype, seeds, the objective, the batches, the optimizer and schedule."""
        cfg, model = self.config, self.model
        dtype = getattr(torch, cfg.run.dtype)
        ref = next(iter(model.buffers()), None)
        device = (
            torch.device(cfg.run.device)
            if cfg.run.device
            else (ref.device if ref is not None else torch.device("cpu"))
        )
        model.to(device=device, dtype=dtype)
        torch.manual_seed(cfg.run.seed)
        gen = torch.Generator().manual_seed(cfg.run.seed)
        groups, n_positions = _train_batches(train, device, dtype)
        objective = self.objective or Objective(
            model, cfg, cfg.run.solver, n_positions=n_positions, support=_support(model, groups)
        )
        self.objective = objective
        objective.to(device=device, dtype=dtype)
        val_groups = (
            [to_batch(g.t, g.x, g.u, device, dtype) for g in validation] if validation else []
        )
        optimizer, params = self._optimizer(objective)
        schedule = LearningRate(optimizer, cfg.optim) if optimizer is not None else None
        self.history = History()
        state = TrainState(model, objective, optimizer, schedule, gen, self.history, {})
        return Fit(state, groups, [len(g) for g in train], val_groups, params, device)

    def _optimizer(
        self, objective: Objective
    ) -> tuple[torch.optim.AdamW | None, list[torch.nn.Parameter]]:
        """AdamW over the trainable tensors, and the list of them (``None`` if there are none).

        Groups: the network weights (with weight decay); the physics tensors with their own
        rate (``lr_scale = physics_lr / lr``, :data:`PHYSICS_LR` when unset); the rest without
        decay (physics tensors otherwise, and the objective's multiple-shooting starts).
        """
        cfg, model = self.config.optim, self.model
        params = [p for p in model.parameters() if p.requires_grad]
        if not params:
            return None, params
        extra = list(objective.parameters())
        physics = model.dynamics.physics
        phys_ids = {id(p) for p in physics.parameters()} if physics is not None else set()
        decay = [p for p in params if id(p) not in phys_ids]
        no_decay = [p for p in params if id(p) in phys_ids]
        groups: list[dict[str, Any]] = [{"params": decay, "weight_decay": cfg.weight_decay}]
        if no_decay:
            rate = cfg.physics_lr if cfg.physics_lr is not None else PHYSICS_LR
            scale = rate / cfg.lr
            groups.append({"params": no_decay, "weight_decay": 0.0, "lr_scale": scale})
            no_decay = []
        no_decay += extra
        if no_decay:
            groups.append({"params": no_decay, "weight_decay": 0.0})
        return torch.optim.AdamW(groups, lr=cfg.lr), params + extra

    def _start(self, fit: Fit) -> None:
        """Epoch 0: the initial weights, scored on the validation data (if any)."""
        score0 = self._validate(fit) if fit.val_groups else math.inf
        fit.state.best = weights(self.model)
        self.history.best_score = score0
        if fit.state.schedule is not None:
            fit.state.schedule.start(score0)
        self.history.records.append(
            {
                "epoch": 0,
                "time": 0.0,
                "lr": None,
                "horizon": None,
                "steps": 0,
                "val_nrmse": score0 if fit.val_groups else None,
            }
        )

    # ------------------------------------------------------------------ the loop
    def _epochs(self, fit: Fit, start_epoch: int) -> int:
        """Train from ``start_epoch`` until the step budget is spent; returns the last epoch
        (the stop reason is in the state).

        After each epoch ``fit.snapshot`` is the checkpoint to resume from (written as
        ``last.pt`` every ``checkpoint_every`` epochs, and when the run is interrupted).
        """
        cfg, state = self.config, fit.state
        epoch = start_epoch - 1
        total = fit.clock.total_steps
        with EpochBar.open(cfg.run.progress, total, fit.done) as bar:
            while fit.done < total:
                epoch += 1
                record, state.stop = self._train_epoch(fit, epoch)
                # a spent budget is no stop reason of the checkpoint: a resumed run with a
                # larger budget goes on from it
                final = bool(state.stop) or fit.done >= total or phase_ended(fit)
                score = self._score(fit, record, final=final)
                self.history.records.append(record)
                self._keep_best(fit, record, score)
                if phase_ended(fit):  # each phase has a patience of its own
                    state.since_best = 0
                patience = cfg.validation.patience
                if not state.stop and patience is not None and state.since_best >= patience:
                    state.stop = "" if self._end_phase(fit, record) else "patience"
                fit.snapshot = state.payload(epoch, weights(self.model), record["time"])
                if cfg.run.checkpoint_every and epoch % cfg.run.checkpoint_every == 0:
                    self._write("last.pt", fit.snapshot)
                bar.update(record, fit.done)
                if state.stop:
                    break
        return epoch

    def _train_epoch(self, fit: Fit, epoch: int) -> tuple[dict[str, Any], str]:
        """One pass over the shuffled minibatches (cut short where the step budget ends); the
        epoch's record and a stop reason (``"max_time"`` when the safety cap was hit)."""
        cfg = self.config
        self.model.train()
        batches = self._minibatches(fit.sizes, fit.state.generator)
        sums: dict[str, float] = defaultdict(float)
        n_done, lr, h, stop = 0, None, None, ""
        objective = fit.state.objective
        for i, (gi, idx) in enumerate(batches):
            if fit.done >= fit.clock.total_steps:
                break
            if fit.done == fit.polish_at:
                self._polish(fit)
                n_done += fit.polish_steps
                if fit.done == fit.physics_steps or fit.done >= fit.clock.total_steps:
                    break
            progress = phase_progress(fit)
            lr = fit.schedule.at(progress)
            h = curriculum_horizon(progress, cfg.windows)
            held = held_tensors(fit)
            parts = self._step(fit, fit.groups[gi].take(idx), h, f"epoch {epoch}, step {i}", held)
            if not held:  # APHYNITY's multiplier starts with the residual
                objective.after_step(parts, h)
            for k, v in parts.items():
                sums[k] += float(v.detach())
            n_done += 1
            fit.done += 1
            if fit.clock.out_of_time():
                stop = "max_time"
                break
            if phase_ended(fit):  # a phase ends an epoch: it is validated
                break
        record: dict[str, Any] = {
            "epoch": epoch,
            "time": fit.clock.elapsed(),
            "lr": lr,
            "horizon": h,
            "steps": n_done,
        }
        if n_done and fit.done <= fit.encoder_steps:
            record["phase"] = "encoder"
        elif n_done and fit.done <= fit.physics_steps:
            record["phase"] = "physics"
        record.update({f"train_{k}": v / max(n_done, 1) for k, v in sums.items()})
        return record, stop

    def _step(
        self, fit: Fit, batch: Batch, horizon: int, where: str, held: list[torch.nn.Parameter]
    ) -> dict[str, torch.Tensor]:
        """One gradient step on ``batch`` (the ``held`` tensors get no gradient); the loss
        parts (raises on NaN/inf or solver failure)."""
        try:
            loss, parts = fit.state.objective(self.model, batch, horizon)
        except SimulationError as exc:
            raise self._fail(fit, "solver", f"At {where}: {exc}") from None
        if not torch.isfinite(loss):
            bad = [k for k, v in parts.items() if not torch.isfinite(v)]
            raise self._fail(
                fit, "nonfinite", f"Loss part(s) {bad} became {float(loss.detach())} at {where}."
            )
        fit.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        for p in held:  # no gradient: AdamW leaves the tensor (and its moments) alone
            p.grad = None
        clip = self.config.optim.grad_clip
        try:
            torch.nn.utils.clip_grad_norm_(
                fit.params, clip if clip else math.inf, error_if_nonfinite=True
            )
        except RuntimeError:
            raise self._fail(fit, "nonfinite", f"The gradient became NaN/inf at {where}.") from None
        fit.optimizer.step()
        return parts

    def _minibatches(
        self, sizes: list[int], gen: torch.Generator
    ) -> list[tuple[int, torch.Tensor]]:
        """Shuffled ``(group, window indices)`` minibatches of every window group."""
        bs = self.config.optim.batch_size
        out: list[tuple[int, torch.Tensor]] = []
        for gi, n in enumerate(sizes):
            perm = torch.randperm(n, generator=gen)
            out += [(gi, perm[s : s + bs]) for s in range(0, n, bs)]
        order = torch.randperm(len(out), generator=gen).tolist()
        return [out[i] for i in order]

    # ------------------------------------------------------------------ scores and the best
    def _validate(self, fit: Fit) -> float:
        self.model.eval()
        return evaluate_windows(self.model, fit.val_groups, solver=self.config.run.solver)

    def _score(self, fit: Fit, record: dict[str, Any], *, final: bool) -> float | None:
        """The epoch's score: validation nRMSE on validation epochs (also written to the
        record), the mean training loss without validation data, ``None`` otherwise."""
        if not fit.val_groups:
            return float(record.get("train_total", math.inf))
        due = fit.done - fit.validated_at >= self.config.validation.validate_every
        record["val_nrmse"] = None
        if due or final:
            record["val_nrmse"] = self._validate(fit)
            fit.validated_at = fit.done
        return record["val_nrmse"]  # type: ignore[no-any-return]

    def _keep_best(self, fit: Fit, record: dict[str, Any], score: float | None) -> None:
        """Keep the weights if ``score`` is the best so far (and write ``best.pt``); count the
        optimizer steps without improvement for patience (and tell the plateau schedule)."""
        horizon = self.config.windows.horizon
        # early in a curriculum the training loss covers short horizons only; compare training
        # losses only once the full horizon is reached
        if score is None or not (fit.val_groups or record["horizon"] == horizon):
            return
        state, history = fit.state, self.history
        since, fit.compared_at = fit.done - fit.compared_at, fit.done
        improved = score < history.best_score
        fit.schedule.observe(score)
        if improved:
            history.best_score, history.best_epoch = score, record["epoch"]
            state.best = weights(self.model)
            state.since_best = 0
            self._write("best.pt", state.payload(record["epoch"], state.best, record["time"]))
            fit.best_written = record["epoch"]
        elif record["horizon"] == horizon:
            # patience runs only once the curriculum has reached the full horizon: while the
            # horizon grows, long validation rollouts of a model trained on short ones may not
            # improve yet
            state.since_best += since

    # ------------------------------------------------------------------ endings
    def _restore_best(self, fit: Fit, reason: str) -> str:
        """Put the best weights back, record ``reason`` and save them; where they were saved.

        ``best.pt`` is written when this run has not written it at the best epoch already
        (that one holds the whole state of the epoch; this one the weights without the
        optimizer state).
        """
        state = fit.state
        self.model.load_state_dict(state.best)
        self.history.stop_reason = reason
        if not self.config.run.checkpoint_dir:
            return ""
        epoch = self.history.best_epoch
        if fit.best_written != epoch:
            elapsed = fit.clock.elapsed() if hasattr(fit, "clock") else 0.0
            self._write("best.pt", state.payload(epoch, state.best, elapsed, with_optimizer=False))
        else:
            self.history.save(Path(self.config.run.checkpoint_dir) / "history.json")
        return f" and saved to {str(Path(self.config.run.checkpoint_dir) / 'best.pt')!r}"

    def _interrupted(self, fit: Fit, exc: KeyboardInterrupt) -> None:
        """Ctrl-C: restore the best weights, write ``last.pt`` (the last completed epoch, to
        resume from) if ``checkpoint_dir`` is set, and attach to ``exc`` what a caller needs to
        save the run: ``exc.checkpoint`` (that payload), ``exc.history``."""
        self._restore_best(fit, "interrupted")
        if self.config.run.checkpoint_dir and fit.snapshot is not None:
            self._write("last.pt", fit.snapshot)
        exc.checkpoint = fit.snapshot  # type: ignore[attr-defined]
        exc.history = self.history  # type: ignore[attr-defined]

    def _fail(self, fit: Fit, reason: str, message: str) -> TrainingError:
        """The error that stops training (after restoring and saving the best weights)."""
        where = self._restore_best(fit, reason)
        cfg = self.config
        err = TrainingError(
            f"{message} Training stopped; the best weights (epoch {self.history.best_epoch}, "
            f"score {fmt(self.history.best_score)}) were restored{where}. Try a lower `lr` "
            f"(now {cfg.optim.lr:g}), `grad_clip` (now {cfg.optim.grad_clip}), a shorter "
            f"`horizon` or `curriculum=True`, dtype='float64', or a fixed-step solver ('rk4')."
        )
        err.history = self.history  # type: ignore[attr-defined]
        return err

    def _polish(self, fit: Fit) -> None:
        """The L-BFGS polish of the physics (``polish_steps`` iterations, counted as steps);
        undone if it left a non-finite tensor."""
        before = weights(self.model)
        objective = fit.state.objective
        score = lbfgs_polish(
            self.model, objective, fit.groups, self.config, None,
            steps=fit.polish_steps, held=fit.held,
        )  # fmt: skip
        if not math.isfinite(score):
            self.model.load_state_dict(before)
        fit.done += fit.polish_steps

    def _lbfgs(self, fit: Fit) -> None:
        """Polish the best weights with L-BFGS on a fixed batch; kept only if it helps."""
        before = weights(self.model)
        validate = (lambda: self._validate(fit)) if fit.val_groups else None
        score = lbfgs_polish(self.model, fit.state.objective, fit.groups, self.config, validate)
        if score < self.history.best_score:
            self.history.best_score = score
            fit.state.best = weights(self.model)
            self.history.records.append(
                {
                    "epoch": self.history.records[-1]["epoch"],
                    "phase": "lbfgs",
                    "time": None,
                    "lr": None,
                    "horizon": self.config.windows.horizon,
                    "steps": self.config.optim.lbfgs_steps,
                    "val_nrmse": score if fit.val_groups else None,
                }
            )
        else:
            self.model.load_state_dict(before)

    def _write(self, name: str, payload: dict[str, Any]) -> None:
        """Write checkpoint ``name`` and ``history.json`` to ``checkpoint_dir`` (if set)."""
        directory = self.config.run.checkpoint_dir
        if directory:
            save_checkpoint(Path(directory) / name, payload)
            self.history.save(Path(directory) / "history.json")


def _support(model: ODEModel, groups: list[Batch]) -> torch.Tensor | None:
    """The training samples (each window's first state and action) as the data support of the
    PINN term's off-data weighting; ``None`` when some state is not measured."""
    if not model.fully_observed or not groups:
        return None
    x = torch.cat([g.x[:, 0] for g in groups])
    u = torch.cat([g.u[:, 0] for g in groups])
    return support_points(model.dynamics, x, u)


def _train_batches(
    train: Windows, device: torch.device, dtype: torch.dtype
) -> tuple[list[Batch], int]:
    """The training window groups as batches (with each window's flat sample position and its
    episode's end when the episode lengths are known), and the number of sample positions."""
    if train.lengths is None:
        return [to_batch(g.t, g.x, g.u, device, dtype) for g in train], 0
    lengths = np.asarray(train.lengths, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    ends = offsets + lengths - 1
    groups = [
        to_batch(g.t, g.x, g.u, device, dtype, offsets[g.episode] + g.start, ends[g.episode])
        for g in train
    ]
    return groups, int(np.sum(train.lengths))
