"""Vector WorldModelEnv speed: 1,024 copies in one model call vs 1,024 single-env steps.

Fits a small model of every kind to Pendulum-v1 data (collected through ``hybridwm.envs``),
then, in one run, times

* ``--vector-steps`` steps of a :class:`~hybridwm.envs.WorldModelVectorEnv` of ``--copies``
  copies (each step: one batched model call for every copy, the batched reward), and
* ``--copies`` sequential steps of one :class:`~hybridwm.envs.WorldModelEnv` (a model call per
  step),

and prints the transitions per second of each and their ratio (the target of issue 15: >= 10x).
The models' accuracy does not matter here (a few optimizer steps); their architecture does
(the default MLP widths of hybridwm).

Usage::

    .venv/bin/python benchmarks/bench_vector_env.py                 # 1,024 copies, 1 thread
    .venv/bin/python benchmarks/bench_vector_env.py --threads 2 --kinds hybrid

Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import time
import warnings

import gymnasium as gym
import numpy as np
import torch

from hybridwm.envs import WorldModelEnv, WorldModelVectorEnv, collect
from hybridwm.models import KINDS, WorldModel
from hybridwm.physics import declare
from hybridwm.training import TrainConfig

STATES = ("cos_theta", "sin_theta", "theta_dot")
DT = 0.05


def reward(state: np.ndarray, action: np.ndarray, next_state: np.ndarray) -> np.ndarray:
    """Pendulum-v1's reward, batched."""
    theta = np.arctan2(state[:, 1], state[:, 0])
    return -(theta**2 + 0.1 * state[:, 2] ** 2 + 0.001 * action[:, 0] ** 2)


def fitted(kind: str, data, steps: int) -> WorldModel:
    prior = declare(
        [
            "d(cos_theta) = -sin_theta*theta_dot",
            "d(sin_theta) = cos_theta*theta_dot",
            "d(theta_dot) = a*sin_theta + b*torque",
        ],
        {"a": 15.0, "b": 3.0},
        action_names=["torque"],
    )
    model = WorldModel.from_kind(kind, physics=None if kind == "learned" else prior)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return model.fit(data, TrainConfig(steps=steps, horizon=10, progress=False))


def rates(model: WorldModel, copies: int, vector_steps: int, box) -> tuple[float, float]:
    """(vector, sequential single-env) transitions per second."""
    vec = WorldModelVectorEnv(model, copies, reward, dt=DT, action_space=box)
    vec.reset(seed=0)
    actions = np.random.default_rng(0).uniform(-2, 2, (vector_steps, copies, 1))
    vec.step(actions[0])  # warm-up
    start = time.perf_counter()
    for a in actions:
        vec.step(a)
    vector = vector_steps * copies / (time.perf_counter() - start)
    env = WorldModelEnv(model, reward, dt=DT, action_space=box, max_episode_steps=None)
    env.reset(seed=0)
    env.step(actions[0, 0])
    start = time.perf_counter()
    for a in actions[0]:
        env.step(a)
    single = copies / (time.perf_counter() - start)
    return vector, single


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=1024)
    parser.add_argument("--vector-steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--fit-steps", type=int, default=20)
    parser.add_argument("--kinds", nargs="+", default=list(KINDS))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    env = gym.make("Pendulum-v1")
    data = collect(
        env, "piecewise", episodes=8, seed=0, state_names=STATES, action_names=["torque"]
    )
    box = env.action_space
    print(f"{args.copies} copies, {args.vector_steps} vector steps, {args.threads} thread(s)")
    print(f"{'kind':8s} {'vector /s':>12s} {'single /s':>12s} {'ratio':>8s}")
    for kind in args.kinds:
        model = fitted(kind, data, args.fit_steps)
        vector, single = rates(model, args.copies, args.vector_steps, box)
        print(f"{kind:8s} {vector:12.0f} {single:12.0f} {vector / single:8.1f}x")


if __name__ == "__main__":
    main()
