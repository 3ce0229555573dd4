"""Trainer: fits an :class:`~hybridwm.dynamics.ODEModel` to training windows.

It works on torch modules and losses only (it never needs the ``WorldModel`` facade): AdamW with
a cosine or plateau learning-rate schedule, gradient clipping, a horizon curriculum, validation
rollouts with early stopping, a wall-clock budget, seeding, a rich progress bar showing each loss
part, atomic best/last checkpoints, resuming, an optional L-BFGS finish, and a clean stop (best
weights restored, :class:`~hybridwm.errors.TrainingError` raised) when a loss turns NaN/inf or
the solver fails.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hybridwm._io import atomic_write_json, to_jsonable
from hybridwm.data.windows import Windows
from hybridwm.dynamics import ODEModel
from hybridwm.errors import SimulationError, TrainingError
from hybridwm.metrics import default_scale, nrmse
from hybridwm.training.checkpoint import load_checkpoint, save_checkpoint
from hybridwm.training.config import TrainConfig
from hybridwm.training.losses import Batch, Objective, to_batch

__all__ = ["History", "Trainer", "evaluate_windows"]

_CHECKPOINT_VERSION = 1


@dataclass
class History:
    """What happened during training.

    Attributes:
        records: one dict per epoch: ``epoch``, ``time`` (s since start), ``lr``, ``horizon``,
            ``steps``, ``train_<part>`` (mean of each loss part over the epoch) and
            ``val_nrmse`` (``None`` on epochs without validation).
        best_epoch: epoch of the kept weights (0 = the initial weights).
        best_score: validation nRMSE of the kept weights (or training loss without validation).
        stop_reason: ``"epochs"``, ``"patience"``, ``"max_time"``, ``"nonfinite"``,
            ``"solver"``, ``"interrupted"`` or ``"nothing to train"``.
    """

    records: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int = 0
    best_score: float = math.inf
    stop_reason: str = ""

    def __getitem__(self, key: str) -> list[Any]:
        """The values of one record field over the epochs, e.g. ``history["val_nrmse"]``."""
        return [r.get(key) for r in self.records]

    def __len__(self) -> int:
        return len(self.records)

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible dict."""
        return to_jsonable(
            {
                "records": self.records,
                "best_epoch": self.best_epoch,
                "best_score": self.best_score,
                "stop_reason": self.stop_reason,
            }
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> History:
        """Inverse of :meth:`to_dict`."""
        score = data.get("best_score", math.inf)
        score = math.inf if score in (None, "inf") else float(score)
        return cls(
            list(data.get("records", [])),
            int(data.get("best_epoch", 0)),
            score,
            str(data.get("stop_reason", "")),
        )

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write ``history.json`` atomically."""
        return atomic_write_json(path, self.to_dict())


def _state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def evaluate_windows(
    model: ODEModel,
    groups: list[Batch],
    *,
    solver: str | None = None,
    chunk: int = 4096,
) -> float:
    """Validation nRMSE of open-loop rollouts over whole windows (``inf`` if they blow up).

    Args:
        model: the model.
        groups: batches of windows (each on its own grid).
        solver: solver override.
        chunk: maximum windows integrated at once.

    Returns:
        nRMSE (see :mod:`hybridwm.metrics`) over every predicted sample after the first.
    """
    preds, trues = [], []
    with torch.no_grad():
        for b in groups:
            for s in range(0, b.x.shape[0], chunk):
                x, u = b.x[s : s + chunk], b.u[s : s + chunk]
                try:
                    p = model(x, u, b.t, solver=solver)
                except SimulationError:
                    return math.inf
                preds.append(p[:, 1:].reshape(-1, p.shape[-1]).cpu().numpy())
                trues.append(x[:, 1:].reshape(-1, x.shape[-1]).cpu().numpy())
    y = np.concatenate(trues)
    value = nrmse(np.concatenate(preds), y, default_scale(y, constant="one"))
    return value if math.isfinite(value) else math.inf


class _NoBar:
    def add_task(self, *a: Any, **k: Any) -> int:
        return 0

    def update(self, *a: Any, **k: Any) -> None:
        pass


def _fmt(v: float) -> str:
    return f"{v:.3g}" if v is not None and math.isfinite(v) else str(v)


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

    # ------------------------------------------------------------------ helpers
    def _schedule(self, progress: float) -> float:
        cfg = self.config
        if cfg.lr_schedule == "cosine":
            p = min(max(progress, 0.0), 1.0)
            return cfg.min_lr + (cfg.lr - cfg.min_lr) * 0.5 * (1 + math.cos(math.pi * p))
        return self._plateau_lr

    def _horizon(self, progress: float) -> int:
        cfg = self.config
        if not cfg.curriculum:
            return cfg.horizon
        start = min(cfg.curriculum_start, cfg.horizon)
        frac = min(1.0, progress / cfg.curriculum_fraction)
        return round(start + (cfg.horizon - start) * frac)

    def _minibatches(
        self, sizes: list[int], gen: torch.Generator
    ) -> list[tuple[int, torch.Tensor]]:
        bs = self.config.batch_size
        out: list[tuple[int, torch.Tensor]] = []
        for gi, n in enumerate(sizes):
            perm = torch.randperm(n, generator=gen)
            out += [(gi, perm[s : s + bs]) for s in range(0, n, bs)]
        order = torch.randperm(len(out), generator=gen).tolist()
        return [out[i] for i in order]

    def _payload(self, epoch: int, state: dict, opt: torch.optim.Optimizer | None, gen, elapsed):
        shooting = getattr(self.objective, "shooting", None)
        return {
            "format": "hybridwm.checkpoint",
            "version": _CHECKPOINT_VERSION,
            "epoch": int(epoch),
            "model": state,
            "best_model": self._best_state,
            "best_epoch": int(self.history.best_epoch),
            "best_score": float(self.history.best_score),
            "optimizer": opt.state_dict() if opt is not None else {},
            "history": to_jsonable(self.history.records),
            "elapsed": float(elapsed),
            "generator": gen.get_state(),
            "plateau_lr": float(self._plateau_lr),
            "plateau_bad": int(self._plateau_bad),
            # multiple shooting: the learned window starts are trained state too
            "shooting_starts": None if shooting is None else shooting.starts.detach().cpu(),
        }

    def _write(self, name: str, payload: dict) -> None:
        d = self.config.checkpoint_dir
        if d:
            save_checkpoint(Path(d) / name, payload)
            self.history.save(Path(d) / "history.json")

    # ------------------------------------------------------------------ main loop
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
            KeyboardInterrupt: re-raised after restoring and saving the best weights.
        """
        cfg = self.config
        old_threads = torch.get_num_threads()
        if cfg.threads is not None:
            torch.set_num_threads(cfg.threads)
        try:
            return self._fit(train, validation)
        finally:
            if cfg.threads is not None:
                torch.set_num_threads(old_threads)

    def _fit(self, train: Windows, validation: Windows | None) -> History:
        cfg = self.config
        model = self.model
        dtype = getattr(torch, cfg.dtype)
        ref = next(iter(model.buffers()), None)
        device = (
            torch.device(cfg.device) if cfg.device else (ref.device if ref is not None else "cpu")
        )
        model.to(device=device, dtype=dtype)
        torch.manual_seed(cfg.seed)
        gen = torch.Generator().manual_seed(cfg.seed)
        lengths = getattr(train, "lengths", None)
        offsets = ends = None
        if lengths is not None:
            offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
            ends = offsets + np.asarray(lengths, dtype=np.int64) - 1
        n_positions = int(np.sum(lengths)) if lengths is not None else 0
        objective = self.objective or Objective(model, cfg, cfg.solver, n_positions=n_positions)
        self.objective = objective
        if getattr(objective, "shooting", None) is not None:
            objective.shooting.to(device, dtype)

        def batch_of(g) -> Batch:
            if offsets is None or ends is None:
                return to_batch(g.t, g.x, g.u, device, dtype)
            return to_batch(
                g.t, g.x, g.u, device, dtype, offsets[g.episode] + g.start, ends[g.episode]
            )

        groups = [batch_of(g) for g in train]
        sizes = [len(g) for g in train]
        val_groups = (
            [to_batch(g.t, g.x, g.u, device, dtype) for g in validation] if validation else []
        )

        def validate() -> float:
            model.eval()
            return evaluate_windows(model, val_groups, solver=cfg.solver)

        extra = list(objective.parameters()) if hasattr(objective, "parameters") else []
        params = [p for p in model.parameters() if p.requires_grad]
        self.history = History()
        self._plateau_lr, self._plateau_bad = cfg.lr, 0
        start_epoch, elapsed0 = 1, 0.0
        opt = None
        if params:
            phys_ids = set()
            phys = getattr(model.dynamics, "physics", None)
            if phys is not None:
                phys_ids = {id(p) for p in phys.parameters()}
            decay = [p for p in params if id(p) not in phys_ids]
            no_decay = [p for p in params if id(p) in phys_ids]
            param_groups: list[dict[str, Any]] = [
                {"params": decay, "weight_decay": cfg.weight_decay}
            ]
            if cfg.physics_lr is not None and no_decay:
                # physics tensors get their own group whose lr follows the schedule, scaled
                param_groups.append(
                    {"params": no_decay, "weight_decay": 0.0, "lr_scale": cfg.physics_lr / cfg.lr}
                )
                no_decay = []
            no_decay += extra
            if no_decay:
                param_groups.append({"params": no_decay, "weight_decay": 0.0})
            params = params + extra
            opt = torch.optim.AdamW(param_groups, lr=cfg.lr)

        if cfg.resume_from:
            payload = load_checkpoint(cfg.resume_from, map_location=device)
            model.load_state_dict(payload["model"])
            if opt is not None and payload.get("optimizer"):
                opt.load_state_dict(payload["optimizer"])
            self._best_state = payload["best_model"]
            self.history.records = list(payload["history"])
            self.history.best_epoch = int(payload["best_epoch"])
            self.history.best_score = float(payload["best_score"])
            gen.set_state(payload["generator"])
            self._plateau_lr = float(payload["plateau_lr"])
            self._plateau_bad = int(payload["plateau_bad"])
            _restore_starts(getattr(objective, "shooting", None), payload, cfg.resume_from)
            start_epoch, elapsed0 = int(payload["epoch"]) + 1, float(payload["elapsed"])
        else:
            score0 = validate() if val_groups else math.inf
            self._best_state = _state(model)
            self.history.best_score = score0
            self.history.records.append(
                {
                    "epoch": 0,
                    "time": 0.0,
                    "lr": None,
                    "horizon": None,
                    "steps": 0,
                    "val_nrmse": score0 if val_groups else None,
                }
            )
        if opt is None:
            self.history.stop_reason = "nothing to train"
            return self.history

        t_start = time.perf_counter() - elapsed0
        since_best = 0
        bar_ctx = contextlib.nullcontext(_NoBar())
        if cfg.progress:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            bar_ctx = Progress(
                TextColumn("[bold]training"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.fields[info]}"),
            )

        def fail(reason: str, message: str) -> TrainingError:
            model.load_state_dict(self._best_state)
            self.history.stop_reason = reason
            where = ""
            if cfg.checkpoint_dir:
                self._write(
                    "best.pt",
                    self._payload(self.history.best_epoch, self._best_state, None, gen, 0.0),
                )
                where = f" and saved to {str(Path(cfg.checkpoint_dir) / 'best.pt')!r}"
            err = TrainingError(
                f"{message} Training stopped; the best weights (epoch {self.history.best_epoch}, "
                f"score {_fmt(self.history.best_score)}) were restored{where}. Try a lower `lr` "
                f"(now {cfg.lr:g}), `grad_clip` (now {cfg.grad_clip}), a shorter `horizon` or "
                f"`curriculum=True`, dtype='float64', or a fixed-step solver ('rk4')."
            )
            err.history = self.history  # type: ignore[attr-defined]
            return err

        stop = ""
        epoch = start_epoch - 1
        try:
            with bar_ctx as bar:
                task = bar.add_task("train", total=cfg.epochs, completed=start_epoch - 1, info="")
                for epoch in range(start_epoch, cfg.epochs + 1):
                    model.train()
                    batches = self._minibatches(sizes, gen)
                    sums: dict[str, float] = defaultdict(float)
                    n_done = 0
                    lr = h = None
                    for i, (gi, idx) in enumerate(batches):
                        elapsed = time.perf_counter() - t_start
                        progress = (epoch - 1 + i / len(batches)) / cfg.epochs
                        if cfg.max_time:
                            progress = max(progress, elapsed / cfg.max_time)
                        lr = self._schedule(progress)
                        for g in opt.param_groups:
                            g["lr"] = lr * g.get("lr_scale", 1.0)
                        h = self._horizon(progress)
                        batch = groups[gi].take(idx)
                        try:
                            loss, parts = objective(model, batch, h)
                        except SimulationError as exc:
                            raise fail("solver", f"At epoch {epoch}, step {i}: {exc}") from None
                        if not torch.isfinite(loss):
                            bad = [k for k, v in parts.items() if not torch.isfinite(v)]
                            raise fail(
                                "nonfinite",
                                f"Loss part(s) {bad} became {float(loss.detach())} at epoch {epoch}, step {i}.",
                            )
                        opt.zero_grad(set_to_none=True)
                        loss.backward()
                        try:
                            torch.nn.utils.clip_grad_norm_(
                                params,
                                cfg.grad_clip if cfg.grad_clip else math.inf,
                                error_if_nonfinite=True,
                            )
                        except RuntimeError:
                            raise fail(
                                "nonfinite",
                                f"The gradient became NaN/inf at epoch {epoch}, step {i}.",
                            ) from None
                        opt.step()
                        for k, v in parts.items():
                            sums[k] += float(v.detach())
                        n_done += 1
                        if cfg.max_time and time.perf_counter() - t_start > cfg.max_time:
                            stop = "max_time"
                            break
                    elapsed = time.perf_counter() - t_start
                    record: dict[str, Any] = {
                        "epoch": epoch,
                        "time": elapsed,
                        "lr": lr,
                        "horizon": h,
                        "steps": n_done,
                    }
                    record.update({f"train_{k}": v / max(n_done, 1) for k, v in sums.items()})
                    do_val = bool(val_groups) and (
                        epoch % cfg.validate_every == 0 or stop or epoch == cfg.epochs
                    )
                    score = None
                    if val_groups:
                        if do_val:
                            score = validate()
                            record["val_nrmse"] = score
                        else:
                            record["val_nrmse"] = None
                    else:
                        score = record.get("train_total", math.inf)
                    self.history.records.append(record)
                    if score is not None:
                        # early in a curriculum the training loss covers short horizons only;
                        # compare training losses only once the full horizon is reached
                        comparable = bool(val_groups) or h == cfg.horizon
                        if comparable and score < self.history.best_score:
                            self.history.best_score, self.history.best_epoch = score, epoch
                            self._best_state = _state(model)
                            since_best = 0
                            self._plateau_bad = 0
                            self._write(
                                "best.pt", self._payload(epoch, self._best_state, opt, gen, elapsed)
                            )
                        elif comparable:
                            # patience runs only once the curriculum has reached the full
                            # horizon: while the horizon grows, long validation rollouts of a
                            # model trained on short ones may not improve yet
                            if h == cfg.horizon:
                                since_best += 1
                            self._plateau_bad += 1
                            if cfg.lr_schedule == "plateau" and self._plateau_bad >= 5:
                                self._plateau_lr = max(cfg.min_lr, self._plateau_lr * 0.5)
                                self._plateau_bad = 0
                    if cfg.checkpoint_every and epoch % cfg.checkpoint_every == 0:
                        self._write(
                            "last.pt", self._payload(epoch, _state(model), opt, gen, elapsed)
                        )
                    info = "  ".join(
                        [f"h={h}", f"lr={_fmt(lr)}"]
                        + [
                            f"{k[6:]}={_fmt(v)}"
                            for k, v in record.items()
                            if k.startswith("train_")
                        ]
                        + (
                            [f"val={_fmt(record['val_nrmse'])}"]
                            if record.get("val_nrmse") is not None
                            else []
                        )
                    )
                    bar.update(task, completed=epoch, info=info)
                    if not stop and cfg.patience is not None and since_best >= cfg.patience:
                        stop = "patience"
                    if stop:
                        break
        except KeyboardInterrupt:
            model.load_state_dict(self._best_state)
            self.history.stop_reason = "interrupted"
            self._write(
                "best.pt", self._payload(self.history.best_epoch, self._best_state, None, gen, 0.0)
            )
            raise
        self.history.stop_reason = stop or "epochs"
        model.load_state_dict(self._best_state)
        if cfg.lbfgs_steps and self.history.stop_reason != "interrupted":
            self._lbfgs(groups, validate, val_groups)
        if cfg.checkpoint_dir:
            self._write(
                "best.pt",
                self._payload(epoch, self._best_state, opt, gen, time.perf_counter() - t_start),
            )
        return self.history

    def _lbfgs(self, groups: list[Batch], validate, val_groups) -> None:
        """Polish the best weights with L-BFGS on a fixed batch; kept only if it helps."""
        cfg, model = self.config, self.model
        objective = self.objective
        assert objective is not None
        g = max(groups, key=lambda b: b.x.shape[0])
        gen = torch.Generator().manual_seed(cfg.seed + 1)
        idx = torch.randperm(g.x.shape[0], generator=gen)[: cfg.lbfgs_windows]
        batch = g.take(idx)
        pinn = objective.pinn
        saved_sample = None
        if pinn is not None:
            xs, us = pinn.sample()
            saved_sample = pinn.sample
            pinn.sample = lambda: (xs, us)  # a fixed sample: L-BFGS needs a deterministic loss
        params = [p for p in model.parameters() if p.requires_grad]
        params += list(objective.parameters()) if hasattr(objective, "parameters") else []
        opt = torch.optim.LBFGS(
            params, lr=1.0, max_iter=cfg.lbfgs_steps, history_size=20, line_search_fn="strong_wolfe"
        )
        before = _state(model)

        def closure() -> torch.Tensor:
            opt.zero_grad(set_to_none=True)
            loss, _ = objective(model, batch, cfg.horizon)
            if torch.isfinite(loss):
                loss.backward()
            return loss

        try:
            model.train()
            opt.step(closure)
        except SimulationError:
            pass
        finally:
            if saved_sample is not None:
                pinn.sample = saved_sample
        finite = all(torch.isfinite(p).all() for p in params)
        score = validate() if (val_groups and finite) else math.inf
        if not val_groups and finite:
            with torch.no_grad():
                score = float(objective(model, batch, cfg.horizon)[0])
        if finite and score < self.history.best_score:
            self.history.best_score = score
            self._best_state = _state(model)
            self.history.records.append(
                {
                    "epoch": self.history.records[-1]["epoch"],
                    "phase": "lbfgs",
                    "time": None,
                    "lr": None,
                    "horizon": cfg.horizon,
                    "steps": cfg.lbfgs_steps,
                    "val_nrmse": score if val_groups else None,
                }
            )
        else:
            model.load_state_dict(before)


def _restore_starts(shooting: Any, payload: dict[str, Any], path: Any) -> None:
    """Put the multiple-shooting window starts of a checkpoint back (when both have them)."""
    starts = payload.get("shooting_starts")
    if shooting is None or starts is None:
        return
    if tuple(starts.shape) != tuple(shooting.starts.shape):
        raise TrainingError(
            f"Checkpoint {str(path)!r} holds multiple-shooting starts of shape "
            f"{tuple(starts.shape)}, but this run has {tuple(shooting.starts.shape)} (sample "
            f"positions × hidden states). Resume with the same training data and model."
        )
    with torch.no_grad():
        shooting.starts.copy_(starts.to(shooting.starts))
