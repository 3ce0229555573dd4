"""Steppers: one interface over a single environment and the autoreset modes of vector ones.

A :class:`Stepper` steps ``n`` copies of an environment with an (n, n_u) batch of actions and
says, per copy, whether a transition happened, the observation it led to, how the episode
ended, and the first observation of a new episode when one began. Gymnasium 1.x vector
environments restart finished copies in one of three ways (``metadata["autoreset_mode"]``):

* ``NEXT_STEP`` (the default): the step after the end resets the copy and ignores its action;
  that call makes no transition for it, only a new first observation;
* ``SAME_STEP``: the step that ends an episode returns the new first observation and puts the
  final one in ``info["final_obs"]``;
* ``DISABLED``: the caller resets finished copies, ``reset(options={"reset_mask": done})``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np

from hybridwm.envs._gym import AutoresetMode, VectorEnv
from hybridwm.errors import ConfigError

__all__ = ["NONE", "TERMINATED", "TRUNCATED", "Outcome", "Stepper", "make_stepper"]

#: how a transition ended its episode: it did not, by termination, by truncation
NONE, TERMINATED, TRUNCATED = 0, 1, 2


@dataclass
class Outcome:
    """What one step of ``n`` copies did.

    Attributes:
        stepped: (n,) bool: the copy made a transition (its action was applied).
        next_obs: (n, n_obs) the observation each transition led to (rows not stepped: unused).
        end: (n,) int: :data:`NONE`, :data:`TERMINATED` or :data:`TRUNCATED` per transition.
        reward: (n,) the transitions' rewards.
        fresh: (n,) bool: a new episode began for the copy, whose first observation is in
            ``first_obs``.
        first_obs: (n, n_obs) first observations of new episodes (rows not fresh: unused).
    """

    stepped: np.ndarray
    next_obs: np.ndarray
    end: np.ndarray
    reward: np.ndarray
    fresh: np.ndarray
    first_obs: np.ndarray


def _ends(terminated: Any, truncated: Any) -> np.ndarray:
    term = np.asarray(terminated, dtype=bool).reshape(-1)
    trunc = np.asarray(truncated, dtype=bool).reshape(-1)
    return np.where(term, TERMINATED, np.where(trunc, TRUNCATED, NONE))


class Stepper(ABC):
    """Steps ``n`` copies of an environment with batched float64 observations and actions.

    Args:
        env: the environment.
        n: copies stepped together.
        action_dtype: the action space's dtype (actions are cast to it).
    """

    def __init__(self, env: Any, n: int, action_dtype: Any) -> None:
        self.env, self.n, self.action_dtype = env, n, action_dtype

    @abstractmethod
    def reset(self, seed: int) -> np.ndarray:
        """(n, n_obs) first observations after a seeded reset."""

    @abstractmethod
    def step(self, actions: np.ndarray) -> Outcome:
        """Apply (n, n_u) actions."""


class SingleStepper(Stepper):
    """One :class:`gymnasium.Env`, reset at once when an episode ends."""

    def reset(self, seed: int) -> np.ndarray:
        obs, _ = self.env.reset(seed=seed)
        return np.asarray(obs, dtype=np.float64)[None]

    def step(self, actions: np.ndarray) -> Outcome:
        obs, reward, terminated, truncated, _ = self.env.step(actions[0].astype(self.action_dtype))
        next_obs = np.asarray(obs, dtype=np.float64)[None]
        end = _ends(terminated, truncated)
        fresh = end != NONE
        first = next_obs
        if fresh[0]:
            obs, _ = self.env.reset()
            first = np.asarray(obs, dtype=np.float64)[None]
        stepped = np.ones(1, dtype=bool)
        return Outcome(stepped, next_obs, end, np.array([float(reward)]), fresh, first)


class VectorStepper(Stepper):
    """A :class:`gymnasium.vector.VectorEnv` in any of the three autoreset modes."""

    def __init__(self, env: Any, n: int, action_dtype: Any) -> None:
        super().__init__(env, n, action_dtype)
        mode = env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
        try:
            self.mode = AutoresetMode(mode)
        except ValueError:
            raise ConfigError(
                f"The vector environment's metadata['autoreset_mode'] is {mode!r}; expected "
                f"one of {[m.value for m in AutoresetMode]}."
            ) from None
        self.waiting = np.zeros(n, dtype=bool)

    def reset(self, seed: int) -> np.ndarray:
        obs, _ = self.env.reset(seed=seed)
        self.waiting[:] = False
        return np.asarray(obs, dtype=np.float64)

    def step(self, actions: np.ndarray) -> Outcome:
        obs, reward, terminated, truncated, info = self.env.step(actions.astype(self.action_dtype))
        obs = np.asarray(obs, dtype=np.float64)
        reward = np.asarray(reward, dtype=np.float64).reshape(-1)
        end = _ends(terminated, truncated)
        done = end != NONE
        if self.mode == AutoresetMode.NEXT_STEP:
            stepped = ~self.waiting
            fresh = self.waiting.copy()
            end = np.where(stepped, end, NONE)
            self.waiting = done & stepped
            return Outcome(stepped, obs, end, reward, fresh, obs)
        stepped = np.ones(self.n, dtype=bool)
        if self.mode == AutoresetMode.SAME_STEP:
            final = obs.copy()
            for i in np.flatnonzero(done):
                final[i] = np.asarray(info["final_obs"][i], dtype=np.float64)
            return Outcome(stepped, final, end, reward, done, obs)
        first = obs
        if done.any():
            first, _ = self.env.reset(options={"reset_mask": done})
            first = np.asarray(first, dtype=np.float64)
        return Outcome(stepped, obs, end, reward, done, first)


def make_stepper(env: Any, n: int, action_dtype: Any) -> Stepper:
    """The stepper of a single or vector environment of ``n`` copies."""
    if isinstance(env, VectorEnv):
        return VectorStepper(env, n, action_dtype)
    return SingleStepper(env, n, action_dtype)
