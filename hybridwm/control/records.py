"""An episode's run directory, written atomically (a temporary folder renamed into place).

Files: ``trajectory.parquet`` (the executed states and actions, ``hybridwm.data`` format),
``results.json`` (what the config and seed decide: task, model, seed, parameters, return,
success, termination, planner settings), ``timings.json`` (wall-clock: planner seconds per
step, its rate in Hz), ``figures/episode.png`` (states, actions and goal error against time)
and ``animation.gif`` (MuJoCo offscreen; when no OpenGL backend works, ``results.json`` says
why under ``"animation"`` and no GIF is written).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure

from hybridwm._io import atomic_dir, atomic_write_json
from hybridwm.control.episode import Episode
from hybridwm.control.planners import PlannerConfig
from hybridwm.control.rendering import write_animation
from hybridwm.control.tasks import Task
from hybridwm.data import write_trajectories
from hybridwm.errors import OutputError

__all__ = ["timing_summary", "write_episode"]


def timing_summary(seconds: np.ndarray) -> dict[str, float]:
    """Planner wall-clock per step: mean, median, p95, max and the first call (s; a compiled
    rollout compiles in it), the mean rate and the median rate (Hz)."""
    s = np.asarray(seconds, dtype=np.float64)
    if s.size == 0:
        return {"steps": 0}
    return {
        "steps": int(s.size),
        "mean_s": float(s.mean()),
        "median_s": float(np.median(s)),
        "p95_s": float(np.percentile(s, 95)),
        "max_s": float(s.max()),
        "first_s": float(s[0]),
        "rate_hz": float(1.0 / s.mean()) if s.mean() > 0 else float("inf"),
        "median_rate_hz": float(1.0 / np.median(s)) if np.median(s) > 0 else float("inf"),
    }


def _plot(path: Path, episode: Episode, task: Task) -> None:
    system = task.get_system()
    error = task.goal_error(torch.as_tensor(episode.x)).numpy()
    fig = Figure(figsize=(7, 7))
    axes = fig.subplots(3, 1, sharex=True)
    for i, name in enumerate(system.state_names):
        axes[0].plot(episode.t, episode.x[:, i], label=name)
    axes[0].set_ylabel("state")
    axes[0].legend(loc="upper right", fontsize=8)
    for i, name in enumerate(system.action_names):
        axes[1].step(episode.t[:-1], episode.u[:, i], where="post", label=name)
    axes[1].set_ylabel("action")
    axes[1].legend(loc="upper right", fontsize=8)
    axes[2].plot(episode.t, error, color="k")
    axes[2].axhline(task.tolerance, color="g", ls="--", label=f"tolerance {task.tolerance:g}")
    axes[2].set_ylabel("goal error")
    axes[2].set_xlabel("time (s)")
    axes[2].legend(loc="upper right", fontsize=8)
    verdict = "success" if episode.success else "no success"
    axes[0].set_title(
        f"{task.name} with {episode.model}: return {episode.total_return:.1f}, {verdict}"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def write_episode(
    out: str | os.PathLike[str],
    episode: Episode,
    task: Task,
    planner: PlannerConfig,
    *,
    animation: bool = True,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``episode``'s run directory at ``out`` (replacing an earlier one as a whole).

    Args:
        out: the run directory.
        episode: the executed episode.
        task: its task. planner: the planner's settings.
        animation: render ``animation.gif`` (a child process; seconds per episode).
        extra: more entries for ``results.json`` (e.g. the model's path).

    Returns:
        ``out`` as a Path.

    Raises:
        OutputError: ``out`` exists and is not a directory, or writing failed (an earlier
            directory at ``out`` is left as it was).
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(
            f"`out` {str(out)!r} exists and is not a directory; give a new path for the "
            f"episode's run directory."
        )
    system = task.get_system()
    with atomic_dir(out) as tmp:
        write_trajectories(
            episode.trajectory(system.state_names, system.action_names), tmp / "trajectory.parquet"
        )
        (tmp / "figures").mkdir()
        _plot(tmp / "figures" / "episode.png", episode, task)
        note = "not asked for"
        if animation:
            markers = [(*task.target, 0.0)] if task.target is not None else []
            note = (
                write_animation(
                    tmp / "animation.gif",
                    system.name,
                    episode.parameters,
                    episode.x,
                    dt=task.dt,
                    markers=markers,
                )
                or "animation.gif"
            )
        results = {
            "task": task.name,
            "model": episode.model,
            "seed": episode.seed,
            "seconds": float(episode.t[-1]),
            "steps": len(episode.u),
            "return": episode.total_return,
            "success": episode.success,
            "terminated": episode.terminated,
            "final_goal_error": task.final_goal_error(episode.x),
            "parameters": episode.parameters,
            "planner": planner.model_dump(),
            "task_config": task.model_dump(),
            "animation": note,
            **(extra or {}),
        }
        atomic_write_json(tmp / "results.json", results)
        atomic_write_json(tmp / "timings.json", {"planner": timing_summary(episode.plan_seconds)})
    return out
