"""WorldModelVectorEnv: ``num_envs`` copies of a world model stepped by one model call.

A :class:`gymnasium.vector.VectorEnv` (gymnasium 1.x conventions): observations (num_envs,
n_x), actions (num_envs, n_u), rewards, ``terminated`` and ``truncated`` (num_envs,), and infos
as dicts of arrays with ``_key`` masks. Every step is one batched call of the model
(:meth:`WorldModel.step <hybridwm.models.WorldModel.step>` on all stepping copies), however
many copies there are; the rewards and ends come from the same batched user functions as
:class:`~hybridwm.envs.WorldModelEnv`'s, which is the single copy of this.

Finished copies restart as ``autoreset_mode`` says (stated in ``metadata["autoreset_mode"]``):

* ``"next_step"`` (gymnasium's default): the step after the end starts a new episode for the
  copy from ``reset_fn``, ignores its action and returns reward 0, not terminated, not truncated;
* ``"same_step"``: the ending step starts the new episode at once, returns its first
  observation and puts the last one in ``info["final_obs"]`` (masked by ``info["_final_obs"]``);
* ``"disabled"``: finished copies wait for ``reset(options={"reset_mask": mask})``.

``reset(options=...)`` takes ``"params"`` (new physics parameters for every copy, kept by
autoresets until the next ``reset``), ``"state"`` ((num_envs, n_x) initial states) and, for
``"disabled"``, ``"reset_mask"`` ((num_envs,) bool: reset only those copies).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hybridwm.envs._gym import AutoresetMode, VectorEnv, batch_space
from hybridwm.envs.checks import count
from hybridwm.envs.model_env import (
    RESET_OPTIONS,
    actions_of,
    check_options,
    make_spaces,
)
from hybridwm.envs.transitions import ResetFn, StepFn, Transitions
from hybridwm.errors import ConfigError, ShapeError, UnknownNameError

__all__ = ["AUTORESET_MODES", "WorldModelVectorEnv"]

#: ``autoreset_mode`` names and the gymnasium modes they stand for
AUTORESET_MODES = {
    "next_step": AutoresetMode.NEXT_STEP,
    "same_step": AutoresetMode.SAME_STEP,
    "disabled": AutoresetMode.DISABLED,
}

_WHAT = "WorldModelVectorEnv"


def _mode(value: Any) -> AutoresetMode:
    if isinstance(value, AutoresetMode):
        return value
    if value not in AUTORESET_MODES:
        raise UnknownNameError(
            f"Unknown `autoreset_mode` {value!r} of {_WHAT}. Valid names: "
            f"{list(AUTORESET_MODES)} (or a gymnasium.vector.AutoresetMode)."
        )
    return AUTORESET_MODES[value]


class WorldModelVectorEnv(VectorEnv):
    """``num_envs`` copies of a fitted WorldModel as a ``gymnasium.vector.VectorEnv``.

    Args:
        model: the fitted model.
        num_envs: copies stepped together.
        reward_fn, termination_fn, reset_fn, dt, max_episode_steps, action_space: as for
            :class:`~hybridwm.envs.WorldModelEnv` (``action_space`` is one copy's).
        autoreset_mode: ``"next_step"``, ``"same_step"`` or ``"disabled"`` (or the
            :class:`gymnasium.vector.AutoresetMode`); see the module docstring.

    Raises:
        ConfigError, NotFittedError, UnknownNameError: an argument is invalid.
    """

    def __init__(
        self,
        model: Any,
        num_envs: int,
        reward_fn: StepFn,
        termination_fn: StepFn | None = None,
        reset_fn: ResetFn | None = None,
        *,
        autoreset_mode: Any = "next_step",
        dt: float,
        max_episode_steps: int | None = 1000,
        action_space: Any = None,
    ) -> None:
        self.core = Transitions(model, dt, reward_fn, termination_fn, reset_fn, _WHAT)
        self.num_envs = count(num_envs, f"`num_envs` of {_WHAT}")
        label = f"`max_episode_steps` of {_WHAT}"
        self.max_episode_steps = count(max_episode_steps, label, allow_none=True)
        self.metadata = {"autoreset_mode": _mode(autoreset_mode), "render_modes": []}
        obs, act = make_spaces(self.core, action_space, _WHAT)
        self.single_observation_space, self.single_action_space = obs, act
        self.observation_space = batch_space(obs, self.num_envs)
        self.action_space = batch_space(act, self.num_envs)
        self.state_names, self.action_names = self.core.state_names, self.core.action_names
        self._state: np.ndarray | None = None
        self._steps = np.zeros(self.num_envs, dtype=np.int64)
        self._ended = np.zeros(self.num_envs, dtype=bool)

    @property
    def autoreset_mode(self) -> AutoresetMode:
        """How finished copies restart (``metadata["autoreset_mode"]``)."""
        return self.metadata["autoreset_mode"]

    def _reset_mask(self, opts: dict[str, Any]) -> np.ndarray:
        if "reset_mask" not in opts:
            return np.ones(self.num_envs, dtype=bool)
        mask = np.asarray(opts["reset_mask"])
        if mask.dtype != bool or mask.shape != (self.num_envs,):
            raise ShapeError(
                f'`options["reset_mask"]` of reset must be a bool array of shape '
                f"({self.num_envs},). Got dtype {mask.dtype}, shape {mask.shape}."
            )
        if "params" in opts and not mask.all():
            raise ConfigError(
                '`options["params"]` change the model of every copy; give them in a reset of '
                "all copies (without `reset_mask`)."
            )
        if self._state is None and not mask.all():
            raise ConfigError("The first reset must reset every copy; leave out `reset_mask`.")
        return mask

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start new episodes (all copies, or ``options["reset_mask"]``'s); ``(obs, info)``."""
        super().reset(seed=seed)
        opts = check_options(options, (*RESET_OPTIONS, "reset_mask"))
        mask = self._reset_mask(opts)
        if "params" in opts or mask.all():
            self.core.set_params(opts.get("params"))
        k = int(mask.sum())
        if "state" in opts:
            x = self.core.states(opts["state"], self.num_envs, 'options["state"] of reset')[mask]
        else:
            x = self.core.initial(self.np_random, k)
        state = np.zeros((self.num_envs, self.core.n_x)) if self._state is None else self._state
        state[mask] = x
        self._state = state
        self._steps[mask] = 0
        self._ended[mask] = False
        return state.copy(), {}

    def _restart(self, rows: np.ndarray) -> None:
        """New episodes for copies ``rows`` (from ``reset_fn``)."""
        self._state[rows] = self.core.initial(self.np_random, rows.size)
        self._steps[rows] = 0
        self._ended[rows] = False

    def step(
        self, actions: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Apply (num_envs, n_u) actions: ``(obs, rewards, terminated, truncated, info)``."""
        if self._state is None:
            raise ConfigError(f"Call reset() before step() on a {_WHAT}.")
        u = actions_of(actions, (self.num_envs, self.core.n_u), f"{_WHAT}.step")
        n = self.num_envs
        reward, terminated = np.zeros(n), np.zeros(n, dtype=bool)
        truncated, diverged = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
        waiting = self._ended.copy()
        if self.autoreset_mode == AutoresetMode.DISABLED and waiting.any():
            raise ConfigError(
                f"Copies {np.flatnonzero(waiting)[:10].tolist()} have ended and autoreset_mode "
                f'is "disabled": reset them with reset(options={{"reset_mask": mask}}) first.'
            )
        rows = np.flatnonzero(~waiting)
        if rows.size:
            nxt, r, term, div = self.core.step(self._state[rows], u[rows])
            self._state[rows], reward[rows], terminated[rows], diverged[rows] = nxt, r, term, div
            self._steps[rows] += 1
            if self.max_episode_steps is not None:
                truncated[rows] = self._steps[rows] >= self.max_episode_steps
        if waiting.any():
            self._restart(np.flatnonzero(waiting))
        self._ended = terminated | truncated
        info: dict[str, Any] = {"diverged": diverged, "_diverged": ~waiting}
        if self.autoreset_mode == AutoresetMode.SAME_STEP and self._ended.any():
            ended = np.flatnonzero(self._ended)
            final = np.full(n, None, dtype=object)
            for i in ended:
                final[i] = self._state[i].copy()
            info.update(final_obs=final, _final_obs=self._ended.copy())
            self._restart(ended)
        return self._state.copy(), reward, terminated, truncated, info
