"""collect: episodes of any gymnasium environment with Box spaces as a TrajectorySet.

>>> import gymnasium as gym                                          # doctest: +SKIP
>>> data = collect(gym.make("Pendulum-v1"), "piecewise", episodes=20, seed=0,
...                state_names=["cos_theta", "sin_theta", "theta_dot"], action_names=["torque"])

Each episode is a :class:`~hybridwm.data.Trajectory`: ``t = dt * arange(T+1)`` with ``dt`` the
environment's step size, ``x`` the T+1 observations (the one after ``reset`` and one after each
step, the final one included), ``u`` the T actions applied (the environment's dtype, as
float64), with the last row repeated as every hybridwm episode has it. Episodes end where the
environment says ``terminated`` or ``truncated`` (``meta["end"]``); with ``seconds``, the ones
still running at the end are kept as ``"cut"``.

Observations and states: the world model is fitted to whatever columns the episodes hold, so
by default they are the environment's observations, and a :class:`~hybridwm.envs.WorldModelEnv`
of the fitted model has the environment's observation space. Where the observations are not a
good state for an ODE (Pendulum-v1 gives ``cos θ, sin θ, θ̇``), ``observation_fn`` maps each
whole episode's observations to states, e.g. ``θ = unwrap(atan2(sin θ, cos θ))``, named by
``state_names``; it sees the whole episode, so it can unwrap angles and difference positions.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hybridwm.data import Trajectory, TrajectorySet
from hybridwm.envs import checks
from hybridwm.envs._gym import VectorEnv, gym
from hybridwm.envs.acting import make_actor
from hybridwm.envs.checks import count
from hybridwm.envs.environment import EnvDescription, describe
from hybridwm.envs.steppers import NONE, TERMINATED, make_stepper
from hybridwm.errors import ConfigError, ShapeError
from hybridwm.systems.policies import Policy

__all__ = ["collect"]

_END_NAMES = {TERMINATED: "terminated", NONE: "cut"}


@dataclass
class _Episode:
    """One copy's episode in progress."""

    obs: list[np.ndarray]
    actions: list[np.ndarray] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)


@dataclass
class _Plan:
    """What ``collect`` was asked for, checked."""

    episodes: int | None
    transitions: int | None
    seed: int
    observation_fn: Callable[[np.ndarray], Any] | None
    state_names: tuple[str, ...] | None
    action_names: tuple[str, ...] | None
    policy: str


def _plan_amount(episodes: Any, seconds: Any, dt: float) -> tuple[int | None, int | None]:
    """``(episodes, transitions)``: exactly one of the two is given."""
    if (episodes is None) == (seconds is None):
        raise ConfigError(
            "Give collect exactly one of `episodes` (whole episodes, split at termination and "
            f"truncation) or `seconds` (simulated time in total). Got episodes={episodes!r}, "
            f"seconds={seconds!r}."
        )
    if episodes is not None:
        return count(episodes, "`episodes` of collect"), None
    total = checks.seconds(seconds, "`seconds` of collect")
    return None, max(1, math.ceil(total / dt - 1e-9))


def _names(names: Any, n: int | None, what: str) -> tuple[str, ...] | None:
    if names is None:
        return None
    if isinstance(names, str) or not all(isinstance(s, str) for s in names):
        raise ConfigError(f"`{what}` of collect must be a list of strings. Got {names!r}.")
    names = tuple(names)
    if n is not None and len(names) != n:
        raise ShapeError(
            f"`{what}` of collect has {len(names)} names {list(names)} but the environment "
            f"has {n} {'observation' if what == 'state_names' else 'action'} columns; give one "
            f"name per column."
        )
    return names


def _states(plan: _Plan, obs: np.ndarray) -> np.ndarray:
    """The states of one episode's (T+1, n_obs) observations (``observation_fn`` applied)."""
    if plan.observation_fn is None:
        return obs
    x = np.asarray(plan.observation_fn(obs), dtype=np.float64)
    if x.ndim != 2 or x.shape[0] != obs.shape[0]:
        raise ShapeError(
            f"`observation_fn` of collect must map an episode's observations {obs.shape} to "
            f"states (T+1, n_x) = ({obs.shape[0]}, n_x); it returned shape {x.shape}."
        )
    if plan.state_names is not None and len(plan.state_names) != x.shape[1]:
        raise ShapeError(
            f"`state_names` of collect has {len(plan.state_names)} names "
            f"{list(plan.state_names)} but `observation_fn` returns {x.shape[1]} columns; give "
            f"one name per column."
        )
    return x


def _trajectory(
    ep: _Episode, end: int, desc: EnvDescription, plan: _Plan, copy: int, index: int
) -> Trajectory:
    obs = np.stack(ep.obs)
    u = np.stack(ep.actions + ep.actions[-1:])
    meta = {
        **desc.meta,
        "seed": plan.seed,
        "policy": plan.policy,
        "episode": index,
        "copy": copy,
        "end": _END_NAMES.get(end, "truncated"),
        "return": float(np.sum(ep.rewards)),
    }
    t = desc.dt * np.arange(len(obs), dtype=np.float64)
    return Trajectory(t, _states(plan, obs), u, plan.state_names, plan.action_names, meta)


def _run(env: Any, desc: EnvDescription, actor: Any, plan: _Plan) -> list[Trajectory]:
    """Step until the plan is met; the finished episodes in order of their end."""
    stepper = make_stepper(env, desc.num_envs, desc.action_space.dtype)
    obs = stepper.reset(plan.seed)
    running = [_Episode([o]) for o in obs]
    done: list[Trajectory] = []
    recorded = 0
    while True:
        actions = actor.act(obs)
        out = stepper.step(actions)
        for i in np.flatnonzero(out.stepped):
            ep = running[i]
            ep.actions.append(actions[i].astype(desc.action_space.dtype).astype(np.float64))
            ep.obs.append(out.next_obs[i])
            ep.rewards.append(float(out.reward[i]))
            recorded += 1
            if out.end[i] != NONE:
                done.append(_trajectory(ep, int(out.end[i]), desc, plan, int(i), len(done)))
                running[i] = _Episode([out.next_obs[i]])  # no episode until the next begins
        fresh = np.flatnonzero(out.fresh)
        for i in fresh:
            running[i] = _Episode([out.first_obs[i]])
        actor.start(fresh)
        obs = np.stack([ep.obs[-1] for ep in running])
        if plan.episodes is not None and len(done) >= plan.episodes:
            return done[: plan.episodes]
        if plan.transitions is not None and recorded >= plan.transitions:
            cut = [(i, ep) for i, ep in enumerate(running) if ep.actions]
            ends = [
                _trajectory(ep, NONE, desc, plan, i, len(done) + k) for k, (i, ep) in enumerate(cut)
            ]
            return done + ends


def _time_limit(env: Any, desc: EnvDescription, max_episode_steps: Any, whole: bool) -> Any:
    """``env`` wrapped in ``max_episode_steps``'s TimeLimit; ``whole``: episodes are asked for,
    so some limit must exist."""
    if max_episode_steps is not None:
        count(max_episode_steps, "`max_episode_steps` of collect")
        if isinstance(env, VectorEnv):
            raise ConfigError(
                "`max_episode_steps` of collect applies to a single environment; give it when "
                "making the vector one: gymnasium.make_vec(id, num_envs, max_episode_steps=N)."
            )
        return gym.wrappers.TimeLimit(env, int(max_episode_steps))
    if whole and desc.max_episode_steps is None:
        raise ConfigError(
            "The environment has no time limit, so an episode might never end; pass "
            "`max_episode_steps` (or make it with gymnasium.make(id, max_episode_steps=N)), "
            "or collect `seconds` instead of `episodes`."
        )
    return env


def _policy_name(policy: Any) -> str:
    """How ``meta["policy"]`` names the policy: its name, its class, or ``"callable"``."""
    if isinstance(policy, str):
        return policy
    return type(policy).__name__ if isinstance(policy, Policy) else "callable"


def collect(
    env: Any,
    policy: Any = "random",
    *,
    episodes: int | None = None,
    seconds: float | None = None,
    seed: int = 0,
    state_names: Any = None,
    action_names: Any = None,
    observation_fn: Callable[[np.ndarray], Any] | None = None,
    dt: float | None = None,
    max_episode_steps: int | None = None,
) -> TrajectorySet:
    """Episodes of a gymnasium environment (single or vector) as a TrajectorySet.

    Args:
        env: a :class:`gymnasium.Env` or :class:`gymnasium.vector.VectorEnv` (any autoreset
            mode) with 1-D Box observation and action spaces.
        policy: ``"random"`` (uniform in the action bounds every step), ``"piecewise"``
            (uniform levels held 0.05-0.5 s), an open-loop :class:`hybridwm.systems.Policy`, or
            a callable ``policy(obs) -> action`` with obs (n_obs,) → (n_u,) for a single
            environment and (num_envs, n_obs) → (num_envs, n_u) for a vector one.
        episodes: the number of whole episodes to record (the first to end).
        seconds: instead, the simulated time to record in total (at least; the episodes
            running at the end are kept with ``meta["end"] = "cut"``).
        seed: seeds the environment's first reset and the policy's generator (>= 0).
        state_names: names of the state columns (default ``x0, x1, ...``).
        action_names: names of the action columns (default ``u0, u1, ...``).
        observation_fn: maps one episode's (T+1, n_obs) observations to (T+1, n_x) states
            (see the module docstring); default: the observations are the states.
        dt: seconds per step, for an environment that states none (``env.unwrapped.dt``).
        max_episode_steps: truncate a single environment's episodes after at most this many
            steps (default: its registered time limit).

    Returns:
        The episodes; each ``meta`` holds ``source``, ``env_id``, ``env_version``,
        ``env_kwargs``, ``gymnasium_version``, ``dt``, ``seed``, ``policy``, ``episode``,
        ``copy`` (the vector copy it came from), ``end`` and ``return`` (summed reward).

    Raises:
        ConfigError: a space is not a 1-D Box, ``dt`` is unknown or contradicts the
            environment's, not exactly one of ``episodes``/``seconds``, an invalid number, a
            vector environment with ``max_episode_steps``, or ``episodes`` of an environment
            that never truncates.
        UnknownNameError: an unknown policy name.
        ShapeError: names of the wrong length, a policy or ``observation_fn`` of the wrong
            output shape.
    """
    desc = describe(env, dt)
    n_episodes, transitions = _plan_amount(episodes, seconds, desc.dt)
    checks.non_negative_int(seed, "`seed` of collect")
    env = _time_limit(env, desc, max_episode_steps, n_episodes is not None)
    if observation_fn is not None and not callable(observation_fn):
        raise ConfigError(
            f"`observation_fn` of collect must be a callable (T+1, n_obs) -> (T+1, n_x). "
            f"Got {type(observation_fn).__name__}."
        )
    n_obs = desc.observation_space.shape[0] if observation_fn is None else None
    plan = _Plan(
        n_episodes,
        transitions,
        int(seed),
        observation_fn,
        _names(state_names, n_obs, "state_names"),
        _names(action_names, desc.action_space.shape[0], "action_names"),
        _policy_name(policy),
    )
    single = not isinstance(env, VectorEnv)
    actor = make_actor(
        policy, desc.action_space, desc.num_envs, desc.dt, np.random.default_rng(seed), single
    )
    return TrajectorySet(_run(env, desc, actor, plan))
