"""What hybridwm reads from a gymnasium environment: its Box spaces, step size and identity.

A single environment (:class:`gymnasium.Env`) and a vector one (:class:`gymnasium.vector.VectorEnv`)
are described alike: :func:`describe` returns the per-copy spaces, the number of copies, the
step size in seconds and the metadata that :func:`~hybridwm.envs.collect` records with every
episode (environment id, version, keyword arguments, gymnasium version).
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass
from typing import Any

from hybridwm.envs import checks
from hybridwm.envs._gym import VectorEnv, gym, spaces
from hybridwm.envs.checks import count
from hybridwm.errors import ConfigError, UnknownNameError

__all__ = ["EnvDescription", "box_space", "describe", "make_env", "step_size"]


@dataclass(frozen=True)
class EnvDescription:
    """The facts of an environment that collection needs.

    Attributes:
        observation_space: the Box of one copy's observations, (n_obs,).
        action_space: the Box of one copy's actions, (n_u,).
        num_envs: copies stepped together (1 for a single environment).
        dt: seconds between two observations.
        max_episode_steps: the registered time limit (None when the environment has none).
        meta: JSON-serialisable identity: ``env_id``, ``env_version``, ``env_kwargs``,
            ``gymnasium_version``, ``dt``.
    """

    observation_space: Any
    action_space: Any
    num_envs: int
    dt: float
    max_episode_steps: int | None
    meta: dict[str, Any]


def box_space(space: Any, what: str) -> Any:
    """``space`` checked to be a 1-D :class:`gymnasium.spaces.Box` of floats.

    Args:
        space: the space to check.
        what: how messages name it (``"observation space"`` or ``"action space"``).

    Raises:
        ConfigError: ``space`` is not a 1-D Box, naming the wrapper that makes it one.
    """
    if not isinstance(space, spaces.Box):
        raise ConfigError(
            f"The environment's {what} must be a gymnasium Box (continuous values). Got "
            f"{space!r}. Wrap the environment to make it one, e.g. "
            f"gymnasium.wrappers.FlattenObservation for a Dict observation."
        )
    if len(space.shape) != 1:
        raise ConfigError(
            f"The environment's {what} must be a 1-D Box (one value per column). Got shape "
            f"{space.shape}. Flatten it first, e.g. with gymnasium.wrappers.FlattenObservation."
        )
    return space


def _env_dt(env: Any) -> float | None:
    """The step size the environment states (``unwrapped.dt``; every copy's for a vector one)."""
    if isinstance(env, VectorEnv):
        try:
            values = {float(v) for v in env.get_attr("dt")}
        except (AttributeError, TypeError, ValueError):
            return None
        if len(values) > 1:
            raise ConfigError(
                f"The copies of the vector environment step with different `dt` "
                f"{sorted(values)}; collect from copies of one step size."
            )
        return values.pop() if values else None
    value = getattr(env.unwrapped, "dt", None)
    return None if value is None else float(value)


def _check_dt(dt: Any, source: str) -> float:
    return checks.seconds(dt, f"`dt` {source}", "a number of seconds > 0")


def step_size(env: Any, dt: float | None = None) -> float:
    """Seconds between two observations of ``env``.

    In order: the environment's own ``unwrapped.dt`` (MuJoCo and classic-control environments
    have one), the explicit ``dt``, else ``1 / metadata["render_fps"]`` with a warning (a
    rendering rate, not always the step size: Pendulum-v1 renders at 30 fps but steps 0.05 s).

    Args:
        env: a gymnasium environment or vector environment.
        dt: the step size in seconds, for an environment that states none.

    Raises:
        ConfigError: ``dt`` is not a number > 0, disagrees with the environment's own, or
            neither is known.
    """
    own = _env_dt(env)
    given = None if dt is None else _check_dt(dt, "of collect")
    if own is not None:
        own = _check_dt(own, "of the environment (env.unwrapped.dt)")
        if given is not None and not math.isclose(given, own, rel_tol=1e-9):
            raise ConfigError(
                f"`dt` of collect is {given!r} but the environment steps {own!r} s "
                f"(env.unwrapped.dt). Leave `dt` out to use the environment's."
            )
        return own
    if given is not None:
        return given
    fps = env.metadata.get("render_fps") if isinstance(env.metadata, dict) else None
    if fps:
        warnings.warn(
            f"The environment states no step size (env.unwrapped.dt); using 1 / "
            f"metadata['render_fps'] = {1.0 / float(fps):.6g} s. Pass `dt` if that is not the "
            f"time between two observations.",
            UserWarning,
            stacklevel=3,
        )
        return _check_dt(1.0 / float(fps), "from metadata['render_fps']")
    raise ConfigError(
        "The environment states no step size: it has no `unwrapped.dt` and no "
        "metadata['render_fps']. Pass `dt`, the seconds between two observations."
    )


def _json_safe(value: Any) -> Any:
    """``value`` if JSON can hold it, else its ``repr`` (kwargs may hold callables)."""
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
    return value


#: keyword arguments of ``gymnasium.make_vec`` that are no parameters of the environment
_VECTOR_KWARGS = ("num_envs", "vectorization_mode", "vector_kwargs", "wrappers")


def _identity(env: Any, dt: float) -> dict[str, Any]:
    spec = env.spec
    kwargs = dict(spec.kwargs) if spec is not None else {}
    kwargs = {k: _json_safe(v) for k, v in kwargs.items() if k not in _VECTOR_KWARGS}
    return {
        "source": "gymnasium",
        "env_id": None if spec is None else spec.id,
        "env_version": None if spec is None else spec.version,
        "env_kwargs": kwargs,
        "gymnasium_version": gym.__version__,
        "dt": dt,
    }


def describe(env: Any, dt: float | None = None) -> EnvDescription:
    """The spaces, copies, step size and identity of a gymnasium (vector) environment.

    Args:
        env: a :class:`gymnasium.Env` or :class:`gymnasium.vector.VectorEnv` with Box
            observation and action spaces.
        dt: the step size in seconds, when the environment states none (see
            :func:`step_size`).

    Raises:
        ConfigError: ``env`` is no gymnasium environment, a space is not a 1-D Box, or the
            step size is unknown or contradicted.
    """
    if isinstance(env, VectorEnv):
        obs, act, n = env.single_observation_space, env.single_action_space, int(env.num_envs)
    elif isinstance(env, gym.Env):
        obs, act, n = env.observation_space, env.action_space, 1
    else:
        raise ConfigError(
            f"`env` must be a gymnasium.Env or gymnasium.vector.VectorEnv, e.g. "
            f"gymnasium.make('Pendulum-v1'). Got {type(env).__name__}."
        )
    obs, act = box_space(obs, "observation space"), box_space(act, "action space")
    seconds = step_size(env, dt)
    limit = None if env.spec is None else env.spec.max_episode_steps
    return EnvDescription(obs, act, n, seconds, limit, _identity(env, seconds))


def make_env(
    env_id: str, *, num_envs: int = 1, max_episode_steps: int | None = None, **kwargs: Any
) -> Any:
    """``gymnasium.make(env_id, **kwargs)``, or a synchronous vector environment of
    ``num_envs`` copies (``gymnasium.make_vec``), with gymnasium's errors as hybridwm's.

    Args:
        env_id: a registered id such as ``"InvertedPendulum-v5"``.
        num_envs: copies; more than 1 makes a vector environment.
        max_episode_steps: the time limit (default: the registered one).
        **kwargs: the environment's parameters (``g=9.81`` for Pendulum-v1).

    Raises:
        ConfigError: ``num_envs`` is not an integer >= 1, or the environment refuses the
            parameters.
        UnknownNameError: gymnasium cannot make ``env_id`` (unknown id or version, a missing
            dependency such as MuJoCo); the message is gymnasium's.
    """
    num_envs = count(num_envs, "`num_envs`")
    limit = {} if max_episode_steps is None else {"max_episode_steps": int(max_episode_steps)}
    try:
        if num_envs == 1:
            return gym.make(env_id, **limit, **kwargs)
        return gym.make_vec(env_id, int(num_envs), "sync", **limit, **kwargs)
    except gym.error.Error as exc:
        raise UnknownNameError(
            f"gymnasium cannot make the environment {env_id!r}: {exc} List the registered ids "
            f"with `python -c 'import gymnasium; gymnasium.pprint_registry()'`."
        ) from None
    except TypeError as exc:
        raise ConfigError(
            f"The environment {env_id!r} refused the parameters {kwargs}: {exc}."
        ) from None
