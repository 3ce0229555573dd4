"""WorldModelEnv: a fitted world model as a gymnasium environment (a "dream" environment).

>>> env = WorldModelEnv(model, reward_fn, termination_fn, dt=0.05,       # doctest: +SKIP
...                     action_space=real_env.action_space, max_episode_steps=200)
>>> obs, info = env.reset(seed=0, options={"params": {"m": 1.3}})   # a heavier pendulum
>>> obs, reward, terminated, truncated, info = env.step(env.action_space.sample())

The observation is the model's full state (``model.state_names_``: for a model fitted to
observations, the observed columns, then any unobserved or latent coordinates, whose initial
values come from ``reset_fn`` like the others), and one step integrates the model over ``dt``
under the held action (:meth:`WorldModel.step <hybridwm.models.WorldModel.step>`). Rewards,
terminations and initial states come from the user's batched functions (see
:mod:`hybridwm.envs.transitions`). ``reset(options=...)`` takes

* ``"params"``: ``{name: value}`` new values of the declared prior's parameters for this
  episode (physics and hybrid models over :func:`hybridwm.physics.declare`); a reset without
  them goes back to the fitted values;
* ``"state"``: the initial state (n_x,) instead of one from ``reset_fn``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from hybridwm.envs._gym import gym, spaces
from hybridwm.envs.checks import count, float_array, known_keys
from hybridwm.envs.transitions import ResetFn, StepFn, Transitions
from hybridwm.errors import ConfigError, ShapeError

__all__ = [
    "RESET_OPTIONS",
    "WorldModelEnv",
    "actions_of",
    "check_options",
    "make_spaces",
]

#: the keys ``reset(options=...)`` understands
RESET_OPTIONS = ("params", "state")


def check_options(options: Any, valid: tuple[str, ...] = RESET_OPTIONS) -> dict[str, Any]:
    """``options`` of ``reset`` as a dict with only ``valid`` keys (None: no options).

    Raises:
        ConfigError: not a mapping, or an unknown key (the valid ones listed).
    """
    if options is None:
        return {}
    return known_keys(options, valid, "`options` of reset", "key")


def make_spaces(core: Transitions, action_space: Any, what: str) -> tuple[Any, Any]:
    """The (observation, action) Boxes of one copy: unbounded float64 states, and
    ``action_space`` checked (default: unbounded float64 actions).

    Raises:
        ConfigError: the model has no actions, or ``action_space`` is not a Box of (n_u,).
    """
    if core.n_u == 0:
        raise ConfigError(
            f"The model has no actions, so {what} has nothing to act on; fit it to data with "
            f"actions."
        )
    obs = spaces.Box(-np.inf, np.inf, (core.n_x,), np.float64)
    if action_space is None:
        return obs, spaces.Box(-np.inf, np.inf, (core.n_u,), np.float64)
    if not isinstance(action_space, spaces.Box) or action_space.shape != (core.n_u,):
        raise ConfigError(
            f"`action_space` of {what} must be a gymnasium Box of shape ({core.n_u},) for "
            f"actions {list(core.action_names)}, e.g. the real environment's action_space. "
            f"Got {action_space!r}."
        )
    return obs, action_space


def actions_of(action: Any, shape: tuple[int, ...], what: str) -> np.ndarray:
    """``action`` as a finite float64 array of ``shape``, else ShapeError."""
    a = float_array(action, f"The action of {what}")
    if a.shape != shape:
        raise ShapeError(f"The action of {what} must have shape {shape}. Got {a.shape}.")
    if not np.isfinite(a).all():
        raise ShapeError(f"The action of {what} holds NaN or inf: {a.tolist()}.")
    return a


class WorldModelEnv(gym.Env):
    """A fitted :class:`~hybridwm.models.WorldModel` of any kind as a ``gymnasium.Env``.

    Args:
        model: the fitted model.
        reward_fn: ``reward_fn(state, action, next_state) -> (n,)`` rewards, batched numpy.
        termination_fn: ``termination_fn(state, action, next_state) -> (n,)`` bool, or None.
        reset_fn: ``reset_fn(rng, n) -> (n, n_x)`` initial states, or None (the training
            data's mean ± std per coordinate, normal).
        dt: seconds per step (the model's training sample interval, usually).
        max_episode_steps: truncate episodes after this many steps (None: never).
        action_space: the Box of actions (pass the real environment's); default unbounded.

    Raises:
        ConfigError, NotFittedError: an argument is invalid (named in the message).
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}

    def __init__(
        self,
        model: Any,
        reward_fn: StepFn,
        termination_fn: StepFn | None = None,
        reset_fn: ResetFn | None = None,
        *,
        dt: float,
        max_episode_steps: int | None = 1000,
        action_space: Any = None,
    ) -> None:
        self.core = Transitions(model, dt, reward_fn, termination_fn, reset_fn, "WorldModelEnv")
        label = "`max_episode_steps` of WorldModelEnv"
        self.max_episode_steps = count(max_episode_steps, label, allow_none=True)
        self.observation_space, self.action_space = make_spaces(
            self.core, action_space, "WorldModelEnv"
        )
        self.state_names, self.action_names = self.core.state_names, self.core.action_names
        self._state: np.ndarray | None = None
        self._steps = 0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode; ``options`` as in the module docstring. Returns ``(obs, info)``."""
        super().reset(seed=seed)
        opts = check_options(options)
        self.core.set_params(opts.get("params"))
        if "state" in opts:
            x = self.core.states(opts["state"], 1, 'options["state"] of reset')
        else:
            x = self.core.initial(self.np_random, 1)
        self._state, self._steps = x, 0
        return x[0].copy(), {"params": dict(opts.get("params") or {})}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Apply ``action`` (n_u,) for ``dt``: ``(obs, reward, terminated, truncated, info)``,
        ``info["diverged"]`` when the model's prediction was not finite."""
        if self._state is None:
            raise ConfigError("Call reset() before step() on a WorldModelEnv.")
        u = actions_of(action, (self.core.n_u,), "WorldModelEnv.step")
        nxt, reward, terminated, diverged = self.core.step(self._state, u[None])
        self._state = nxt
        self._steps += 1
        truncated = self.max_episode_steps is not None and self._steps >= self.max_episode_steps
        info = {"diverged": bool(diverged[0])}
        return nxt[0].copy(), float(reward[0]), bool(terminated[0]), bool(truncated), info
