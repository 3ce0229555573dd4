"""Transitions: a batch of world-model states stepped by one model call, with user rewards.

The engine under :class:`~hybridwm.envs.WorldModelEnv` (a batch of one) and
:class:`~hybridwm.envs.WorldModelVectorEnv` (a batch of ``num_envs``). The user's functions
are batched numpy functions over the model's state coordinates (``model.state_names_``):

* ``reward_fn(state, action, next_state) -> reward``: (n, n_x), (n, n_u), (n, n_x) → (n,);
* ``termination_fn(state, action, next_state) -> terminated``: same inputs → (n,) bool
  (None: episodes end only by truncation);
* ``reset_fn(rng, n) -> states``: a ``numpy.random.Generator`` and a count → (n, n_x) initial
  states (None: each coordinate drawn from a normal distribution with the mean and standard
  deviation of the model's training data, its normalizer's statistics).

A prediction that is not finite (the model left the region it can predict) ends the episode
as terminated, keeps the last finite state as the observation and is flagged ``diverged``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from hybridwm.data.names import NamedSignals
from hybridwm.envs.checks import float_array, seconds
from hybridwm.envs.variations import vary
from hybridwm.errors import ConfigError, NotFittedError, ShapeError
from hybridwm.models import WorldModel

__all__ = ["Transitions", "check_dt", "check_model"]

StepFn = Callable[[np.ndarray, np.ndarray, np.ndarray], Any]
ResetFn = Callable[[np.random.Generator, int], Any]


def check_model(model: Any, what: str) -> WorldModel:
    """``model`` checked to be a fitted WorldModel.

    Raises:
        ConfigError: not a WorldModel. NotFittedError: not fitted.
    """
    if not isinstance(model, WorldModel):
        raise ConfigError(
            f"`model` of {what} must be a fitted hybridwm WorldModel. Got {type(model).__name__}."
        )
    if getattr(model, "model_", None) is None:
        raise NotFittedError(
            f"The {model.kind} WorldModel given to {what} is not fitted; call .fit(data) first "
            f"or load one with WorldModel.load(path)."
        )
    return model


def check_dt(dt: Any, what: str) -> float:
    """``dt`` as a float > 0, else ConfigError naming ``what``."""
    meaning = "the model's step in seconds, a number > 0 (the sample interval of its training data)"
    return seconds(dt, f"`dt` of {what}", meaning)


def _check_callable(fn: Any, name: str, what: str, optional: bool) -> None:
    if fn is None and optional:
        return
    if not callable(fn):
        raise ConfigError(f"`{name}` of {what} must be a callable. Got {type(fn).__name__}.")


def _batch_output(value: Any, name: str, n: int) -> np.ndarray:
    out = float_array(value, f"The output of `{name}`")
    if out.shape not in ((n,), (n, 1)):
        raise ShapeError(
            f"`{name}` must return one value per state, shape ({n},); it returned shape "
            f"{out.shape}."
        )
    return out.reshape(n)


class Transitions(NamedSignals):
    """One model call steps every state of a batch; rewards and ends from user functions.

    Args:
        model: a fitted WorldModel.
        dt: seconds per step.
        reward_fn, termination_fn, reset_fn: see the module docstring.
        what: the caller's name, for messages.

    Raises:
        ConfigError, NotFittedError: see :func:`check_model`, :func:`check_dt`, a function
            that is not callable.
    """

    def __init__(
        self,
        model: Any,
        dt: Any,
        reward_fn: StepFn,
        termination_fn: StepFn | None,
        reset_fn: ResetFn | None,
        what: str,
    ) -> None:
        self.nominal = self.model = check_model(model, what)
        self.dt = check_dt(dt, what)
        _check_callable(reward_fn, "reward_fn", what, optional=False)
        _check_callable(termination_fn, "termination_fn", what, optional=True)
        _check_callable(reset_fn, "reset_fn", what, optional=True)
        self.reward_fn, self.termination_fn, self.reset_fn = reward_fn, termination_fn, reset_fn
        self.state_names: tuple[str, ...] = tuple(model.state_names_)
        self.action_names: tuple[str, ...] = tuple(model.action_names_)
        norm = model.model_.dynamics.normalizer
        self.mean = norm.x_mean.detach().cpu().double().numpy()
        self.std = norm.x_std.detach().cpu().double().numpy()

    def set_params(self, params: Any) -> None:
        """Use the nominal model with ``params`` changed (None: the nominal model itself)."""
        self.model = self.nominal if params is None else vary(self.nominal, params)

    def states(self, value: Any, n: int, name: str) -> np.ndarray:
        """``value`` as (n, n_x) finite float64 states, else ShapeError naming ``name``."""
        x = float_array(value, f"`{name}`")
        if x.shape == (self.n_x,) and n == 1:
            x = x[None]
        if x.shape != (n, self.n_x):
            raise ShapeError(
                f"`{name}` must have shape ({n}, {self.n_x}) for states "
                f"{list(self.state_names)}. Got {x.shape}."
            )
        if not np.isfinite(x).all():
            raise ShapeError(f"`{name}` holds NaN or inf; initial states must be finite.")
        return x

    def initial(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """(n, n_x) initial states from ``reset_fn`` (or the training data's statistics)."""
        if self.reset_fn is None:
            return self.mean + self.std * rng.standard_normal((n, self.n_x))
        return self.states(self.reset_fn(rng, n), n, "reset_fn's output")

    def step(
        self, x: np.ndarray, u: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Step states x (n, n_x) under actions u (n, n_u) by one model call.

        Returns:
            ``(next_x, reward, terminated, diverged)``: (n, n_x) next states (the old state
            where the prediction diverged), (n,) float64 rewards, (n,) bool terminations
            (diverged included), (n,) bool divergence flags.
        """
        n = x.shape[0]
        pred = np.asarray(self.model.step(x, u, self.dt), dtype=np.float64)
        diverged = ~np.isfinite(pred).all(axis=1)
        nxt = np.where(diverged[:, None], x, pred)
        reward = _batch_output(self.reward_fn(x, u, nxt), "reward_fn", n)
        if self.termination_fn is None:
            terminated = np.zeros(n, dtype=bool)
        else:
            ends = self.termination_fn(x, u, nxt)
            terminated = _batch_output(ends, "termination_fn", n) != 0
        return nxt, reward, terminated | diverged, diverged
