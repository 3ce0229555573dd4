"""Gymnasium both ways: collect data from any environment, use any world model as one.

Needs the optional extra ``pip install 'hybridwm[gym]'``; importing this package without
gymnasium raises an ImportError that says so.

* :func:`collect`: episodes of a gymnasium environment (single or vector, Box spaces) as a
  :class:`~hybridwm.data.TrajectorySet`, with time from the environment's step size.
* :class:`WorldModelEnv`: a fitted WorldModel of any kind as a ``gymnasium.Env``, with the
  user's reward, termination and reset functions and physics variations through
  ``reset(options={"params": ...})``; :class:`WorldModelVectorEnv`: ``num_envs`` copies as a
  ``gymnasium.vector.VectorEnv`` stepped by one model call.
* :func:`as_dynamics`: ``dynamics(state[K, n_x], action[K, n_u]) -> next_state`` for planners.
"""

from hybridwm.envs.collection import collect
from hybridwm.envs.dynamics import ModelDynamics, as_dynamics
from hybridwm.envs.environment import EnvDescription, describe, make_env, step_size
from hybridwm.envs.model_env import WorldModelEnv
from hybridwm.envs.variations import parameter_names, vary
from hybridwm.envs.vector import AUTORESET_MODES, WorldModelVectorEnv

__all__ = [
    "AUTORESET_MODES",
    "EnvDescription",
    "ModelDynamics",
    "WorldModelEnv",
    "WorldModelVectorEnv",
    "as_dynamics",
    "collect",
    "describe",
    "make_env",
    "parameter_names",
    "step_size",
    "vary",
]
