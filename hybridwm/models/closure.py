"""A hybrid that writes its residual into the prior (``TrainConfig.closure="auto"``).

Two stages share one step budget ``S`` (so a closing hybrid trains exactly as many optimizer
steps as every other model):

1. the hybrid (declared prior with trainable parameters + residual) trains ``(1 - f) S``
   steps, ``f = closure_fraction``;
2. what the prior misses is regressed on a generic library
   (:func:`hybridwm.physics.closure.fit_closure`), read two ways: the residual network's
   values at the training states, and the data's own differences (:func:`_best_closure`
   keeps the reading that closes more rows, better). If some rows are explained, the prior gets
   those terms as new parameters (:func:`~hybridwm.physics.closure.close_prior`) and a fresh
   hybrid of the closed prior (its residual at zero again, its parameters starting where
   stage 1 and the regression left them) trains the other ``f S`` steps; the stage that
   validates better is kept. If no row is explained, the stage-1 model trains on for the
   other ``f S`` steps (physics and residual together; its stage-1 weights are the baseline
   that early stopping keeps if they stay better).

Why: a residual network is right only where it was trained (and the support gate closes it
elsewhere), so a missing law that acts everywhere (a damping) is lost off the data; written as
an equation it extrapolates, and the prior's parameters stop trading off against the network
(pendulum prior without its damping, ``benchmarks/bench_identifiability.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hybridwm.data import TrajectorySet
from hybridwm.dynamics import ODEModel
from hybridwm.errors import DataError
from hybridwm.models.building import current_physics
from hybridwm.models.fitting import Prepared, prepare, run_trainer
from hybridwm.models.spec import ModelSpec, is_physics_model
from hybridwm.physics.closure import Closure, close_prior, fit_closure
from hybridwm.training import History, TrainConfig

__all__ = ["ClosedFit", "closure_skipped", "describe_closure", "fit_closed", "fit_closed_into"]


def closure_skipped(spec: ModelSpec, physics: Any, cfg: TrainConfig, ready: Prepared) -> str:
    """Why ``cfg.closure`` does not apply to this fit ("" when it does)."""
    if cfg.closure == "off":
        return "closure='off'"
    if spec.kind != "hybrid" or not spec.trainable_physics:
        return "not a hybrid with trainable physics"
    if not is_physics_model(physics) or not physics.parameters:
        return "the physics is not a declared prior with parameters"
    if physics.observations or set(physics.state_names) != set(ready.state_names):
        return "the prior has observation equations or the model has states the prior lacks"
    if set(ready.observed_names) != set(ready.state_names):
        return "a state is not measured"
    if ready.val_windows is None:
        return "no validation data to choose between the stages"
    if cfg.epochs is not None or cfg.resume_from is not None:
        return "the budget is in epochs, or the fit resumes a checkpoint"
    if cfg.optim.total_steps(1) < 2:
        return "fewer than 2 steps"
    return ""


@dataclass
class ClosedFit:
    """What :func:`fit_closed` returns.

    Attributes:
        model: the kept model (the fitted ODEModel).
        physics: the physics the kept model was built with (the closed prior, or the given one).
        ready: the prepared data and names of the kept model.
        history: both stages' records (each with ``stage`` 1 or 2); the kept stage's best score.
        record: ``closure`` (:meth:`~hybridwm.physics.closure.Closure.to_dict`), ``steps``
            (per stage), ``val_nrmse`` (best per stage), ``kept`` (``"closed"``,
            ``"stage 1"`` or ``"continued"``).
    """

    model: ODEModel
    physics: Any
    ready: Prepared
    history: History
    record: dict[str, Any] = field(default_factory=dict)


def _episodes(
    train: TrajectorySet, states: Sequence[str], actions: Sequence[str]
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``(t (T,), x (T, n_x), u (T, n_u))`` of each training episode, columns in the order of
    ``states`` and ``actions``."""
    xi = [train.state_names.index(n) for n in states]
    ui = [train.action_names.index(n) for n in actions]
    out = []
    for tr in train:
        x = np.asarray(tr.x, dtype=np.float64)[:, xi]
        u = np.asarray(tr.u, dtype=np.float64)[:, ui] if ui else np.zeros((len(x), 0))
        out.append((np.asarray(tr.t, dtype=np.float64), x, u))
    return out


def _residual_at(model: ODEModel, ready: Prepared, physics: Any) -> tuple[np.ndarray, ...]:
    """(states (N, n_x), actions (N, n_u), residual (N, n_x), trajectory ids (N,)) over every
    sample of the training episodes, columns in ``physics``' state and action order."""
    episodes = _episodes(ready.train, physics.state_names, ready.action_names)
    x = np.concatenate([x for _, x, _ in episodes])
    u = np.concatenate([u for _, _, u in episodes])  # the model's actions
    groups = np.concatenate([np.full(len(x), i) for i, (_, x, _) in enumerate(episodes)])
    to_model = [physics.state_names.index(n) for n in ready.state_names]
    dyn = model.dynamics
    p = next(dyn.parameters())
    with torch.no_grad():
        r = dyn.residual_term(
            torch.as_tensor(x[:, to_model], dtype=p.dtype, device=p.device),
            torch.as_tensor(u, dtype=p.dtype, device=p.device),
        )
    to_physics = [ready.state_names.index(n) for n in physics.state_names]
    prior_u = [ready.action_names.index(n) for n in physics.action_names]
    return x, u[:, prior_u], r.cpu().numpy().astype(np.float64)[:, to_physics], groups


def _difference_residual(ready: Prepared, physics: Any) -> tuple[np.ndarray, ...]:
    """What ``physics`` misses by the data's own differences: over every step ``k`` of the
    training episodes, ``(x[k+1] - x[k]) / (t[k+1] - t[k]) - f(x_mid, u[k])`` at the midpoint
    state ``x_mid = (x[k] + x[k+1]) / 2`` under the held action ``u[k]`` (second order in the
    step, and aligned with the action held over it; a central difference mixes the actions of
    two steps). An angle's step is taken the short way round, so a record that wraps at
    ``±pi`` gives no jump. As :func:`_residual_at`: (states, actions, residual, trajectory
    ids), columns in ``physics``' order; rows with a missing value are dropped."""
    angle = np.array([n in set(ready.angles) for n in physics.state_names])
    xs, us, ds, gs = [], [], [], []
    for i, (t, x, u) in enumerate(
        _episodes(ready.train, physics.state_names, physics.action_names)
    ):
        dt = np.diff(t)[:, None]
        step = np.diff(x, axis=0)
        jump = angle & (np.abs(step) > np.pi)  # only those: the others stay bit for bit
        end = np.where(jump, x[:-1] + (step + np.pi) % (2 * np.pi) - np.pi, x[1:])
        xs.append(0.5 * (x[:-1] + end))
        us.append(u[:-1])
        ds.append((end - x[:-1]) / dt)
        gs.append(np.full(len(x) - 1, i))
    x, u, d, g = (np.concatenate(a) for a in (xs, us, ds, gs))
    keep = np.isfinite(x).all(1) & np.isfinite(u).all(1) & np.isfinite(d).all(1)
    x, u, d, g = x[keep], u[keep], d[keep], g[keep]
    return x, u, d - physics.predict(x, u), g


def _score(closure: Closure) -> float:
    """The sum of the held-out R² of the closed rows: more rows closed, then a better fit."""
    return float(closure.r2[closure.accepted].sum())


def _best_closure(model: ODEModel, ready: Prepared, physics: Any, cfg: TrainConfig) -> Closure:
    """:func:`~hybridwm.physics.closure.fit_closure` of what ``physics`` misses, read two ways:
    the residual network's values at the training states, and the data's own differences
    (:func:`_difference_residual`); the one that closes more rows, better (:func:`_score`).

    The network is trained on whole trajectories and smooths noise, but it also carries its
    own approximation error: on the cart-pole prior without friction its residual was
    explained to held-out R² 0.93-0.98 at best, too little to tell ``omega/D`` from
    ``omega*cos(theta)/D`` where ``cos(theta)`` stays near 1 (the form that matters on
    near-inverted starts). On clean data the differences are exact to second order in the step
    (R² 0.9985-0.9999 there, the right forms); on noisy data they are noise over ``dt``, their
    fit does not reach ``closure_min_r2``, and the network's reading is the one used."""
    readings = {
        "network": _residual_at(model, ready, physics),
        "differences": _difference_residual(ready, physics),
    }
    return _choose_closure(physics, readings, ready.angles, cfg)


def _choose_closure(
    physics: Any, readings: dict[str, tuple[np.ndarray, ...]], angles: Any, cfg: TrainConfig
) -> Closure:
    """The closure of the reading (``{source: (x, u, residual, groups)}``, the network's
    first) with the best :func:`_score`; the first on a tie. A reading other than the first
    with too few rows for the held-out folds is passed over."""
    found = []
    for source, (x, u, r, groups) in readings.items():
        try:
            closure = fit_closure(
                physics,
                x,
                u,
                r,
                groups,
                angles=angles,
                min_r2=cfg.closure_min_r2,
                seed=cfg.seed,
            )
        except DataError:  # too few rows for the held-out folds
            if not found:
                raise
            continue
        closure.source = source
        found.append(closure)
    return max(found, key=_score)  # the first on a tie


def _train(model: ODEModel, cfg: TrainConfig, ready: Prepared, stage: int) -> History:
    """Train ``model`` on ``ready``'s windows; the history's records tagged with ``stage``."""

    def tag(history: History) -> None:
        for r in history.records:
            r["stage"] = stage

    return run_trainer(model, cfg, ready, tag)


def _joined(first: History, second: History, kept: History) -> History:
    """One history of two stages: ``first``'s records, then ``second``'s with their epochs
    counted on; best epoch and score of ``kept``; the stop reason of the last stage."""
    offset = first.records[-1]["epoch"] if first.records else 0
    records = first.records + [{**r, "epoch": r["epoch"] + offset} for r in second.records]
    best = kept.best_epoch + (offset if kept is second else 0)
    return History(records, best, kept.best_score, second.stop_reason or first.stop_reason)


def fit_closed(
    spec: ModelSpec,
    physics: Any,
    data: TrajectorySet,
    validation: TrajectorySet | None,
    cfg: TrainConfig,
    ready: Prepared,
    device: torch.device,
) -> ClosedFit:
    """The two stages of the module docstring (``closure_skipped`` must be "").

    An interrupt (Ctrl-C) in stage 2 leaves the caller the stage-1 model and raises with
    ``exc.closure_stage = 2`` and no checkpoint: stage 2's checkpoint is of the closed prior,
    which a resumed fit of the given prior cannot load.

    Args:
        spec: the hybrid's architecture.
        physics: the declared prior as given.
        data: the training episodes; validation: as for ``WorldModel.fit``.
        cfg: the training settings (``steps`` is the whole budget). With ``checkpoint_dir``,
            stage 1 writes its checkpoints to the ``stage-1`` folder inside it.
        ready: :func:`~hybridwm.models.fitting.prepare` of ``physics`` on ``data``.
        device: where the models train.
    """
    total = cfg.optim.total_steps(1)
    second = max(1, min(total - 1, round(cfg.closure_fraction * total)))
    model = ready.model.to(device=device)
    first = cfg.replace(steps=total - second)
    if cfg.checkpoint_dir:  # stage 2 writes the fit's own checkpoints
        first = first.replace(checkpoint_dir=str(Path(cfg.checkpoint_dir) / "stage-1"))
    stage1 = _train(model, first, ready, 1)
    trained = current_physics(model, physics)
    closure = _best_closure(model, ready, trained, cfg)
    record: dict[str, Any] = {"closure": closure.to_dict(), "steps": [total - second, second]}
    if not closure.found:
        go_on = cfg.replace(steps=second, physics_first=0.0, curriculum=False)
        stage2 = _train(model, go_on, ready, 2)
        record.update(val_nrmse=[stage1.best_score, stage2.best_score], kept="continued")
        return ClosedFit(model, physics, ready, _joined(stage1, stage2, stage2), record)
    closed = close_prior(trained, closure)
    ready2 = prepare(spec, closed, data, validation, cfg)
    model2 = ready2.model.to(device=device)
    try:
        stage2 = _train(model2, cfg.replace(steps=second), ready2, 2)
    except KeyboardInterrupt as exc:  # its checkpoint is of the closed prior: not resumable
        exc.checkpoint = None  # type: ignore[attr-defined]
        exc.closure_stage = 2  # type: ignore[attr-defined]
        raise
    record["val_nrmse"] = [stage1.best_score, stage2.best_score]
    if stage2.best_score <= stage1.best_score:
        record["kept"] = "closed"
        return ClosedFit(model2, closed, ready2, _joined(stage1, stage2, stage2), record)
    record["kept"] = "stage 1"
    return ClosedFit(model, physics, ready, _joined(stage1, stage2, stage1), record)


def fit_closed_into(
    wm: Any,
    spec: ModelSpec,
    data: TrajectorySet,
    validation: TrajectorySet | None,
    cfg: TrainConfig,
    ready: Prepared,
) -> None:
    """:func:`fit_closed` for the WorldModel ``wm`` (its ``physics_model``, ``device``), setting
    its ``model_``, ``history_`` and ``closure_``; a kept closed prior becomes its
    ``physics_model`` (the given one kept as ``physics_original_``, where a later ``fit``
    starts again)."""
    done = fit_closed(spec, wm.physics_model, data, validation, cfg, ready, wm.device)
    if done.physics is not wm.physics_model:
        wm.physics_original_, wm.physics_model = wm.physics_model, done.physics
    wm.model_, wm.history_, wm.closure_ = done.model, done.history, done.record


def describe_closure(record: dict[str, Any], physics: Any) -> str:
    """One readable sentence on a closing fit: what was written into the prior and which
    stage was kept (``record``: a WorldModel's ``closure_``; ``physics``: its ``physics_``)."""
    found = record["closure"]
    r2 = ", ".join(f"{s} {v:.3g}" for s, v in found["r2"].items() if v is not None) or "none"
    first, second = record["val_nrmse"]
    steps = record["steps"]
    if record["kept"] == "continued":
        return (
            f"Closure: no row of the residual was written as equations (held-out R² {r2}; a row "
            f"needs >= {found['min_r2']:g} and >= 1 % of its derivative); the hybrid trained on "
            f"for its last {steps[1]} steps."
        )
    values = getattr(physics, "parameter_values", {})
    added = getattr(physics, "info", {}).get("closure", {}).get("parameters", {})
    terms = "; ".join(
        f"d({state})/dt + " + " + ".join(f"{values.get(n, v):.4g}*{f}" for n, f, v in rows)
        for state, rows in added.items()
    )
    read = {"differences": ", read from the data's differences"}.get(found.get("source"), "")
    if record["kept"] == "closed":
        return (
            f"Closure: the residual written as {terms} (held-out R² {r2}{read}); the closed prior "
            f"trained for the last {steps[1]} steps and was kept (validation nRMSE {second:.3g} "
            f"against {first:.3g} before)."
        )
    return (
        f"Closure: the residual's fit (held-out R² {r2}) gave a closed prior that validated "
        f"worse ({second:.3g} against {first:.3g}); the first {steps[0]} steps' model was kept."
    )
