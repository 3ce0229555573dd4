"""The learning loop over model kinds and seeds, kept as a run directory (``learning.json``).

:func:`run_learning` runs :func:`~hybridwm.control.learning.learn_to_control` for every kind and
seed with the same settings, data budget and planner, and returns a
:class:`~hybridwm.schemas.LearningRun`; :func:`write_learning_run` writes it as
``<out>/learning.json`` (atomically), which :func:`hybridwm.reports.render_learning_report`
turns into curves of return and success against seconds of real interaction. With
``oracle=True`` the run also holds the reference: the same planner over MuJoCo itself (the
upper bound, no data needed), one evaluation episode per seed on the nominal system and, with a
``shift``, on the changed one.
"""

from __future__ import annotations

import functools
import numbers
import os
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hybridwm.control.episode import run_episode
from hybridwm.control.learning import (
    LearningConfig,
    LearningRound,
    learn_to_control,
    shifted_parameters,
)
from hybridwm.control.planners import PlannerConfig, make_planner
from hybridwm.control.rollouts import make_rollout
from hybridwm.control.tasks import Task
from hybridwm.errors import ConfigError, OutputError
from hybridwm.schemas import LearningRoundRow, LearningRun, OracleEpisodeRow

__all__ = ["KINDS", "oracle_episodes", "run_learning", "write_learning_run"]

#: the model kinds the loop fits (those LearningConfig.kind accepts)
KINDS: tuple[str, ...] = typing.get_args(LearningConfig.model_fields["kind"].annotation)

#: format of ``learning.json``
FORMAT_VERSION = 1


def _checked(kinds: Sequence[str], seeds: Sequence[int], prior: Any) -> tuple[list, list]:
    kinds, seeds = list(kinds), list(seeds)
    if not kinds or len(set(kinds)) != len(kinds) or not set(kinds) <= set(KINDS):
        raise ConfigError(
            f"`kinds` must be distinct names among {list(KINDS)}, at least one. Got {kinds}."
        )
    integers = all(isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in seeds)
    if not seeds or not integers or len(set(seeds)) != len(seeds):
        raise ConfigError(f"`seeds` must be distinct integers, at least one. Got {seeds}.")
    seeds = [int(s) for s in seeds]
    if prior is None and set(kinds) - {"learned"}:
        raise ConfigError(
            f"`prior` is needed for the kinds {sorted(set(kinds) - {'learned'})}: a declared "
            f"PhysicsModel (hybridwm.physics.declare or load_prior) whose free parameters the "
            f"data fit; or run kinds=['learned'] only."
        )
    return kinds, seeds


def run_learning(
    task: Task,
    kinds: Sequence[str],
    seeds: Sequence[int],
    config: LearningConfig,
    planner: PlannerConfig,
    *,
    prior: Any = None,
    on_round: Callable[[str, int, LearningRound], None] | None = None,
    oracle: bool = False,
) -> LearningRun:
    """Run the learning loop for every kind and seed, with one setting for all.

    Args:
        task: the task.
        kinds: model kinds among :data:`KINDS`, each run on every seed.
        seeds: seeds (each seeds the random start, the fits and the planner).
        config: the loop's settings; its ``kind`` and ``seed`` are replaced by each run's.
        planner: the planner's settings (its seed is replaced by the run's).
        prior: the declared physics of the physics and hybrid kinds.
        on_round: called with ``(kind, seed, round)`` as soon as each round is scored.
        oracle: also run the reference, :func:`oracle_episodes` per seed (kept in the run's
            ``oracle``).

    Returns:
        The run: settings and one row per kind, seed and round (and the oracle's episodes).

    Raises:
        ConfigError: empty, repeated or unknown kinds or seeds, no prior for a kind that
            needs one, or a ``config.shift`` that is no mapping to factors > 0.
        UnknownNameError: a ``config.shift`` name that is not a parameter of the system.
    """
    kinds, seeds = _checked(kinds, seeds, prior)
    changed = shifted_parameters(task, config.shift) if config.shift else {}
    rows: list[LearningRoundRow] = []
    for kind in kinds:
        for seed in seeds:
            cfg = config.model_copy(update={"kind": kind, "seed": seed})
            physics = None if kind == "learned" else prior
            report = None if on_round is None else functools.partial(on_round, kind, seed)
            for r in learn_to_control(task, cfg, planner, prior=physics, on_round=report):
                rows.append(
                    LearningRoundRow(
                        kind=kind,
                        seed=seed,
                        round=r.round,
                        interaction_seconds=r.interaction_seconds,
                        success=r.success,
                        total_return=r.total_return,
                        final_goal_error=r.final_goal_error,
                        phase=r.phase,
                        new_seconds=r.new_seconds,
                    )
                )
    references = (
        [e for s in seeds for e in oracle_episodes(task, planner, s, changed)] if oracle else []
    )
    settings = config.model_dump(mode="json", exclude={"kind", "seed"})
    return LearningRun(
        format_version=FORMAT_VERSION,
        task=task.name,
        kinds=kinds,
        seeds=seeds,
        settings=settings,
        planner=planner.model_dump(mode="json", exclude={"seed"}),
        rounds=rows,
        oracle=references,
    )


def oracle_episodes(
    task: Task, planner: PlannerConfig, seed: int, changed: dict[str, float] | None = None
) -> list[OracleEpisodeRow]:
    """The learning loop's reference for ``seed``: its evaluation episode with the planner
    over MuJoCo itself (``make_rollout("oracle")``), on the nominal system and, when
    ``changed`` holds parameter values, on the changed system (the oracle knows them)."""
    plan = planner.model_copy(update={"seed": seed})
    out = []
    for phase, values in (("nominal", {}), ("shifted", changed or {})):
        if phase == "shifted" and not values:
            break
        run = make_planner(make_rollout("oracle", task, parameters=values), task, plan)
        test = run_episode(task, run, seed=seed, parameters=values)
        error = task.final_goal_error(test.x)
        out.append(
            OracleEpisodeRow(
                seed=seed, phase=phase, success=test.success,
                total_return=test.total_return, final_goal_error=error,
            )
        )  # fmt: skip
    return out


def write_learning_run(out: str | os.PathLike[str], run: LearningRun) -> Path:
    """Write ``run`` as ``<out>/learning.json`` (atomically; ``out`` is created).

    Returns:
        The path of ``learning.json``.

    Raises:
        OutputError: ``out`` exists and is not a directory, or cannot be created.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(
            f"`out` {str(out)!r} exists and is not a directory; give a new path for the "
            f"learning run's directory."
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"Cannot create `out` {str(out)!r}: {exc.strerror or exc}.") from None
    return run.write(out / "learning.json")
