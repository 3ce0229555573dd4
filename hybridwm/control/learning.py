"""The model-based learning loop, counted in seconds of real interaction.

Start from ``random_seconds`` of random actions on the real (MuJoCo) system; then, each round:
fit a fresh model of the kind asked for on ALL data so far; test it with one evaluation episode
of the task (planner over the model, on the real system; this episode is scored, never added to
the data); collect ``collect_seconds`` more with the planner over the model, from the task's
initial state, and add them. ``interaction_seconds`` of a round is the real data its model was
fitted on; the first round whose evaluation episode succeeds gives the interaction needed.

With a ``shift`` (factors of the real system's parameters, e.g. a 30 % heavier pole) the loop
goes on after its nominal rounds, on the changed system: the last fitted model is first scored
as it is (0 s of new data); then each shifted round collects ``collect_seconds`` more with the
planner over the current model on the changed system and adapts the last nominal model
(:meth:`~hybridwm.models.WorldModel.adapt`, ``adapt_steps`` steps, its default parts: the
physics parameters of physics and hybrid models, everything of a learned one) on all the data
recorded since the change. ``new_seconds`` of a shifted round is that data; the first shifted
round that succeeds gives the new data needed to succeed again.

Models: ``learned`` (an MLP field), ``physics`` and ``hybrid`` over a ``prior``: a declared
:class:`~hybridwm.physics.PhysicsModel` with free parameters (the known structure with unknown
constants), trained on the data together with the residual of the hybrid.
"""

from __future__ import annotations

import copy
import math
import numbers
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import Field

from hybridwm.config import Config, Integer, PositiveFloat
from hybridwm.control.episode import run_episode
from hybridwm.control.planners import PlannerConfig, make_planner
from hybridwm.control.rollouts import make_rollout
from hybridwm.control.tasks import Task
from hybridwm.data import TrajectorySet
from hybridwm.errors import ConfigError, UnknownNameError
from hybridwm.models import WorldModel
from hybridwm.training import TrainConfig

__all__ = [
    "LearningConfig",
    "LearningRound",
    "adapt_round_model",
    "fit_round_model",
    "learn_to_control",
    "random_episode",
    "shifted_parameters",
]


class LearningConfig(Config):
    """Settings of the model-based learning loop.

    Attributes:
        kind: the model kind: ``"learned"``, ``"physics"`` or ``"hybrid"``.
        random_seconds: seconds of random actions that start the data.
        collect_seconds: seconds collected with the planner after each round.
        rounds: fit-evaluate-collect rounds.
        fit_steps: optimizer steps of each fit (from scratch on all data).
        horizon: training window length in samples.
        hidden: widths of the learned field or residual MLP.
        seed: seeds the data, the fits and the planner.
        until_success: stop after the first round whose evaluation episode succeeds (the
            interaction it needed is then the last round's); otherwise run every round. With a
            ``shift``, the same rule ends the rounds after the change.
        shift: factors of the real system's parameters by name (e.g. ``{"pole_mass": 1.3}``),
            applied after the nominal rounds; empty: no change.
        shift_rounds: collect-adapt-evaluate rounds on the changed system (after scoring the
            unchanged model there).
        adapt_steps: optimizer steps of each adaptation after the change.
    """

    kind: Literal["learned", "physics", "hybrid"]
    random_seconds: PositiveFloat = 2.0
    collect_seconds: PositiveFloat = 1.0
    rounds: Integer = Field(3, ge=1)
    fit_steps: Integer = Field(300, ge=1)
    horizon: Integer = Field(10, ge=2)
    hidden: tuple[int, ...] = (32, 32)
    seed: Integer = 0
    until_success: bool = False
    shift: dict[str, PositiveFloat] = Field(default_factory=dict)
    shift_rounds: Integer = Field(3, ge=1)
    adapt_steps: Integer = Field(200, ge=1)


@dataclass
class LearningRound:
    """One round: the data it was fitted on and how its evaluation episode went.

    ``phase`` is ``"nominal"``, or ``"shifted"`` for a round on the changed system, whose model
    saw ``new_seconds`` of data recorded after the change (``interaction_seconds`` counts all
    real data, before and after). ``fit_seconds``: wall-clock seconds of the fit or adaptation.
    """

    round: int
    interaction_seconds: float
    success: bool
    total_return: float
    final_goal_error: float
    fit_seconds: float
    extra: dict[str, Any] = field(default_factory=dict)
    phase: Literal["nominal", "shifted"] = "nominal"
    new_seconds: float = 0.0


def random_episode(task: Task, seconds: float, rng: np.random.Generator) -> TrajectorySet:
    """``seconds`` of uniformly random actions, one per control period, on the real system
    from the task's initial state (the first data of the loop)."""
    system = task.get_system()
    steps = max(1, round(seconds / task.dt))
    bounds = system.action_bounds
    actions = rng.uniform(bounds[:, 0], bounds[:, 1], size=(steps, system.n_u))
    return system.simulate(task.initial_state(rng), actions, task.dt, meta={"policy": "random"})


def fit_round_model(cfg: LearningConfig, prior: Any, data: TrajectorySet) -> WorldModel:
    """The model one round fits: a fresh ``cfg.kind`` model (over ``prior`` unless learned) on
    ``data``, ``cfg.fit_steps`` steps on ``cfg.horizon``-sample windows, no validation split."""
    physics = None if cfg.kind == "learned" else prior
    hidden = None if cfg.kind == "physics" else cfg.hidden
    model = WorldModel.from_kind(cfg.kind, physics=physics, hidden=hidden)
    with warnings.catch_warnings():  # short fits on little data warn; the loop reports results
        warnings.simplefilter("ignore", UserWarning)
        return model.fit(data, _round_training(cfg, data, cfg.fit_steps))


def _round_training(
    cfg: LearningConfig, data: TrajectorySet, steps: int, **extra: Any
) -> TrainConfig:
    """The loop's TrainConfig: ``steps`` steps on ``cfg.horizon``-sample windows (shorter when
    an episode is), batches of 32, no validation split, no early stopping."""
    horizon = min(cfg.horizon, int(min(data.lengths)) - 1)
    return TrainConfig(
        steps=steps,
        horizon=horizon,
        batch_size=32,
        seed=cfg.seed,
        progress=False,
        validation_fraction=0.0,
        patience=None,
        **extra,
    )


def shifted_parameters(task: Task, shift: Mapping[str, float]) -> dict[str, float]:
    """The values of the parameters ``shift`` changes: the task's system's values times the
    factors.

    Raises:
        ConfigError: ``shift`` is not a mapping of names to finite factors > 0, or a changed
            value the parameter does not allow.
        UnknownNameError: a name that is not a parameter of the system (valid names listed).
    """
    if not isinstance(shift, Mapping) or not all(
        isinstance(f, numbers.Real) and not isinstance(f, bool) and math.isfinite(f) and f > 0
        for f in shift.values()
    ):
        raise ConfigError(
            f"`shift` must map parameter names to factors > 0 (e.g. {{'pole_mass': 1.3}}). "
            f"Got {shift!r}."
        )
    system = task.get_system()
    unknown = sorted(set(shift) - set(system.parameters))
    if unknown:
        valid = ", ".join(repr(k) for k in system.parameters)
        raise UnknownNameError(
            f"`shift` names {unknown}, which are not parameters of {system.name}. Valid "
            f"names: {valid}."
        )
    values = {k: system.parameters[k] * float(f) for k, f in shift.items()}
    return system.check_parameters(values, argument="shift")


def adapt_round_model(cfg: LearningConfig, model: WorldModel, data: TrajectorySet) -> WorldModel:
    """A copy of the fitted ``model`` adapted on ``data`` (recorded after the change):
    :meth:`WorldModel.adapt` with its default parts, ``cfg.adapt_steps`` steps, no validation
    split, no PINN term."""
    train = _round_training(cfg, data, cfg.adapt_steps, pinn_weight=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return copy.deepcopy(model).adapt(data, train)


def _check_loop(task: Task, config: LearningConfig, prior: Any) -> dict[str, float]:
    """The changed parameter values (empty without a shift), after checking the settings."""
    if config.kind != "learned" and prior is None:
        raise ConfigError(
            f"`prior` is needed for kind {config.kind!r}: a declared PhysicsModel of the "
            f"{task.system} (hybridwm.physics.declare) whose free parameters the data fit."
        )
    if not config.shift:
        return {}
    values = shifted_parameters(task, config.shift)
    if config.kind == "learned":
        return values
    if sum(p.numel() for p in prior.vector_field(trainable=True).parameters()) == 0:
        raise ConfigError(
            f"`shift` needs a prior with free parameters for kind {config.kind!r}: after the "
            f"change, adaptation trains the physics parameters, and every parameter of this "
            f"prior is fixed. Declare the changing constants free, or drop `shift`."
        )
    return values


def learn_to_control(
    task: Task,
    config: LearningConfig,
    planner: PlannerConfig,
    *,
    prior: Any = None,
    on_round: Callable[[LearningRound], None] | None = None,
) -> list[LearningRound]:
    """Run the loop (see the module docstring); one :class:`LearningRound` per round, the
    nominal ones first, then (with ``config.shift``) those on the changed system.

    ``on_round`` is called with each round as soon as it is scored (progress).

    Raises:
        ConfigError: a physics or hybrid kind without ``prior``; a ``shift`` with a value the
            parameter does not allow, or over a prior without free parameters.
        UnknownNameError: a ``shift`` name that is not a parameter of the task's system.
    """
    changed = _check_loop(task, config, prior)
    rng = np.random.default_rng(config.seed)
    data = random_episode(task, config.random_seconds, rng)
    seconds, rounds = config.random_seconds, []
    plan_cfg = planner.model_copy(update={"seed": config.seed})
    names = task.get_system().state_names, task.get_system().action_names
    for r in range(config.rounds):
        start = time.perf_counter()
        model = fit_round_model(config, prior, data)
        fit_seconds = time.perf_counter() - start
        run = make_planner(make_rollout(model, task), task, plan_cfg)
        test = run_episode(task, run, seed=config.seed)
        error = task.final_goal_error(test.x)
        rounds.append(
            LearningRound(r, seconds, test.success, test.total_return, error, fit_seconds)
        )
        if on_round is not None:
            on_round(rounds[-1])
        if r == config.rounds - 1 or (config.until_success and test.success):
            break
        more = run_episode(task, run, seconds=config.collect_seconds, seed=config.seed + 1000 + r)
        data = TrajectorySet([*data, more.trajectory(*names)])
        seconds += float(more.t[-1])
    if changed:
        rounds += _shifted_rounds(task, config, plan_cfg, model, changed, rounds[-1], on_round)
    return rounds


def _shifted_rounds(
    task: Task,
    config: LearningConfig,
    plan_cfg: PlannerConfig,
    model: WorldModel,
    changed: dict[str, float],
    last: LearningRound,
    on_round: Callable[[LearningRound], None] | None,
) -> list[LearningRound]:
    """The rounds on the changed system (``changed``: its new parameter values), after the
    nominal rounds, the ``last`` of which scored ``model``."""
    names = task.get_system().state_names, task.get_system().action_names
    new: TrajectorySet | None = None
    new_seconds, rounds, current, fit_seconds = 0.0, [], model, 0.0
    for s in range(config.shift_rounds + 1):
        if new is not None:
            start = time.perf_counter()
            current = adapt_round_model(config, model, new)
            fit_seconds = time.perf_counter() - start
        run = make_planner(make_rollout(current, task), task, plan_cfg)
        test = run_episode(task, run, seed=config.seed, parameters=changed)
        error = task.final_goal_error(test.x)
        rounds.append(
            LearningRound(
                last.round + 1 + s, last.interaction_seconds + new_seconds, test.success,
                test.total_return, error, fit_seconds, phase="shifted", new_seconds=new_seconds,
            )
        )  # fmt: skip
        if on_round is not None:
            on_round(rounds[-1])
        if s == config.shift_rounds or (config.until_success and test.success):
            break
        more = run_episode(
            task, run, seconds=config.collect_seconds, seed=config.seed + 2000 + s,
            parameters=changed,
        )  # fmt: skip
        traj = more.trajectory(*names)
        new = TrajectorySet([traj]) if new is None else TrajectorySet([*new, traj])
        new_seconds += float(more.t[-1])
    return rounds
