"""Actors: the policies :func:`~hybridwm.envs.collect` drives an environment with.

``policy`` of ``collect`` is one of

* ``"random"``: a uniform random action in the action space's bounds every step;
* ``"piecewise"``: piecewise-constant uniform random actions, each held for a uniform random
  0.05-0.5 s (:class:`hybridwm.systems.RandomStepPolicy`), which excites slower dynamics;
* any open-loop :class:`hybridwm.systems.Policy` (``SinesPolicy()``, ``ChirpPolicy()``, ...);
* a callable ``policy(obs) -> action`` (closed loop), called with what the environment
  returned: (n_obs,) for a single environment, (num_envs, n_obs) for a vector one.

The two names are the project's open-loop policies with the bounds of the action space, so
the data look like those ``hybridwm simulate`` writes; they need finite bounds.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import numpy as np

from hybridwm.envs.checks import float_array
from hybridwm.errors import ConfigError, ShapeError, UnknownNameError
from hybridwm.systems.policies import Policy, RandomStepPolicy

__all__ = ["NAMED_POLICIES", "Actor", "make_actor"]

#: the policy names ``collect`` takes
NAMED_POLICIES = ("random", "piecewise")

#: steps of an open-loop action sequence drawn at once (another is drawn when it runs out)
CHUNK = 1000


class Actor(ABC):
    """Actions for ``n`` copies of an environment, each copy's episode restarted on demand.

    Args:
        n: copies stepped together.
        n_u: actions per copy.
    """

    def __init__(self, n: int, n_u: int) -> None:
        self.n, self.n_u = n, n_u

    @abstractmethod
    def start(self, rows: np.ndarray) -> None:
        """Copies ``rows`` (indices) begin a new episode."""

    @abstractmethod
    def act(self, obs: np.ndarray) -> np.ndarray:
        """(n, n_u) actions at observations ``obs`` (n, n_obs)."""


class OpenLoop(Actor):
    """A :class:`hybridwm.systems.Policy`'s action sequences, one per copy and episode.

    Args:
        policy: the open-loop policy.
        n: copies stepped together.
        bounds: (n_u, 2) finite ``[low, high]`` per action.
        dt: seconds per step.
        rng: the generator every sequence is drawn from.
    """

    def __init__(
        self, policy: Policy, n: int, bounds: np.ndarray, dt: float, rng: np.random.Generator
    ) -> None:
        super().__init__(n, bounds.shape[0])
        self.policy, self.bounds, self.dt, self.rng = policy, bounds, dt, rng
        self.plan = np.zeros((n, CHUNK, self.n_u))
        self.position = np.zeros(n, dtype=np.int64)
        self.start(np.arange(n))

    def start(self, rows: np.ndarray) -> None:
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size:
            self.plan[rows] = self.policy.sample(rows.size, CHUNK, self.dt, self.bounds, self.rng)
            self.position[rows] = 0

    def act(self, obs: np.ndarray) -> np.ndarray:
        self.start(np.flatnonzero(self.position >= CHUNK))
        out = self.plan[np.arange(self.n), self.position]
        self.position += 1
        return out


class ClosedLoop(Actor):
    """A user's ``policy(obs) -> action``.

    Args:
        fn: the policy; called with (n_obs,) for a single environment (``single``) and
            (n, n_obs) for a vector one.
        n: copies stepped together.
        n_u: actions per copy.
        single: whether the environment is a single one.
    """

    def __init__(self, fn: Callable[[np.ndarray], Any], n: int, n_u: int, single: bool) -> None:
        super().__init__(n, n_u)
        self.fn, self.single = fn, single

    def start(self, rows: np.ndarray) -> None:
        """Nothing to do: the user's policy keeps its own state, if any."""

    def act(self, obs: np.ndarray) -> np.ndarray:
        a = float_array(self.fn(obs[0] if self.single else obs), "The action `policy` returned")
        want = (self.n_u,) if self.single else (self.n, self.n_u)
        if a.shape != want and not (self.single and self.n_u == 1 and a.ndim == 0):
            raise ShapeError(
                f"`policy` must return actions of shape {want} (the action space's); it "
                f"returned shape {a.shape}."
            )
        if not np.isfinite(a).all():
            raise ShapeError(f"`policy` returned a non-finite action {a.tolist()}.")
        return a.reshape(self.n, self.n_u)


def _bounds(action_space: Any, name: str) -> np.ndarray:
    low = np.asarray(action_space.low, dtype=np.float64)
    high = np.asarray(action_space.high, dtype=np.float64)
    if not (np.isfinite(low).all() and np.isfinite(high).all()):
        raise ConfigError(
            f"policy={name} draws actions within the action space's bounds, but they are not "
            f"finite: low {low.tolist()}, high {high.tolist()}. Pass a callable policy, or "
            f"wrap the environment so that its action space is bounded."
        )
    return np.stack([low, high], axis=1)


def make_actor(
    policy: Any, action_space: Any, n: int, dt: float, rng: np.random.Generator, single: bool
) -> Actor:
    """The actor of ``collect``'s ``policy`` argument (see the module docstring).

    Args:
        policy: ``"random"``, ``"piecewise"``, a :class:`hybridwm.systems.Policy` or a callable.
        action_space: the Box of one copy's actions.
        n: copies stepped together.
        dt: seconds per step.
        rng: the generator of the open-loop policies.
        single: whether the environment is a single one (for a callable's argument shape).

    Raises:
        UnknownNameError: an unknown policy name (the valid ones are listed).
        ConfigError: ``policy`` is of another type, or a named one meets unbounded actions.
    """
    if isinstance(policy, str):
        if policy not in NAMED_POLICIES:
            raise UnknownNameError(
                f"Unknown `policy` {policy!r} of collect. Valid names: {list(NAMED_POLICIES)}, "
                f"or pass a hybridwm.systems.Policy or a callable policy(obs) -> action."
            )
        if policy == "random":
            policy_obj: Policy = RandomStepPolicy(amplitude=1.0, hold_min=dt, hold_max=dt)
        else:
            policy_obj = RandomStepPolicy(amplitude=1.0)
        return OpenLoop(policy_obj, n, _bounds(action_space, repr(policy)), dt, rng)
    if isinstance(policy, Policy):
        return OpenLoop(policy, n, _bounds(action_space, type(policy).__name__), dt, rng)
    if callable(policy):
        return ClosedLoop(policy, n, action_space.shape[0], single)
    raise ConfigError(
        f"`policy` of collect must be one of {list(NAMED_POLICIES)}, a hybridwm.systems.Policy "
        f"or a callable policy(obs) -> action. Got {type(policy).__name__}."
    )
