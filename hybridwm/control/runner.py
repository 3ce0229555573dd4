"""One call from names to a written episode: :func:`control` (what ``hybridwm control`` runs)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from hybridwm.control.episode import Episode, run_episode
from hybridwm.control.planners import PlannerConfig, make_planner
from hybridwm.control.records import write_episode
from hybridwm.control.rollouts import make_rollout
from hybridwm.control.tasks import Task, get_task
from hybridwm.errors import ConfigError
from hybridwm.models import WorldModel, WorldModelEnsemble

__all__ = ["control", "resolve_model"]


def resolve_model(
    model: WorldModel | WorldModelEnsemble | str | os.PathLike[str], device: str | None
) -> Any:
    """``model`` as a fitted WorldModel or WorldModelEnsemble on ``device`` (a directory
    holding ``ensemble.json`` is loaded as an ensemble), or the string ``"oracle"``.

    Raises:
        ConfigError: a path that is no directory (the message names ``model``).
        FormatError: a directory that is no saved model or ensemble (from ``load``).
    """
    if isinstance(model, (WorldModel, WorldModelEnsemble)) or model == "oracle":
        return model
    path = Path(model)
    if not path.is_dir():
        raise ConfigError(
            f"`model` must be 'oracle' or the run directory of a fitted model or ensemble "
            f"(hybridwm fit --out DIR). Got {str(model)!r}, which is not a directory."
        )
    if (path / "ensemble.json").is_file():
        return WorldModelEnsemble.load(path, device=device)
    return WorldModel.load(path, device=device)


def control(
    task: Task | str,
    model: WorldModel | WorldModelEnsemble | str | os.PathLike[str],
    *,
    planner: PlannerConfig | None = None,
    seconds: float | None = None,
    parameters: Mapping[str, Any] | None = None,
    device: str | None = None,
    oracle_timestep: float | None = None,
    float32: bool = False,
    compile: bool = False,
    out: str | os.PathLike[str] | None = None,
    animation: bool = True,
) -> Episode:
    """Plan with ``model``, act on the task's MuJoCo system, and optionally write the episode.

    Args:
        task: a :class:`Task` or a shipped task's name (:func:`list_tasks`).
        model: a fitted WorldModel or WorldModelEnsemble, the directory of one (an ensemble
            plans on its members' samples, see :class:`EnsembleRollout`; with
            ``planner.disagreement`` it penalises their spread), or ``"oracle"`` (MuJoCo).
        planner: the planner settings; its ``seed`` also seeds the initial state.
        seconds: episode length (default: the task's).
        parameters: the real system's parameter overrides (the oracle gets them too).
        device: torch device of the planner and model (``"cpu"``, ``"cuda"``).
        oracle_timestep: MuJoCo step of the oracle's rollouts (see :class:`OracleRollout`).
        float32: plan with a float32 copy of a WorldModel (see :class:`ModelRollout`).
        compile: compile the WorldModel's solve per control period (see
            :class:`~hybridwm.control.compiled.CompiledSolve`; the first planner call compiles).
        out: run directory to write (see :mod:`hybridwm.control.records`), or None.
        animation: render ``animation.gif`` into ``out``.

    Returns:
        The executed :class:`Episode`.
    """
    task = get_task(task) if isinstance(task, str) else task
    cfg = planner or PlannerConfig()
    wm = resolve_model(model, device)
    rollout = make_rollout(
        wm,
        task,
        parameters=parameters,
        device=None if isinstance(wm, WorldModelEnsemble) else device,  # loaded there
        timestep=oracle_timestep,
        dtype=torch.float32 if float32 else None,
        compile=compile,
    )
    episode = run_episode(
        task,
        make_planner(rollout, task, cfg),
        seconds=seconds,
        seed=cfg.seed,
        parameters=parameters,
    )
    if out is not None:
        source = "oracle" if isinstance(model, str) and model == "oracle" else str(model)
        extra = {"model_source": source if not isinstance(model, WorldModel) else "in memory"}
        write_episode(out, episode, task, cfg, animation=animation, extra=extra)
    return episode
