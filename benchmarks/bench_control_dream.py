"""A policy trained only inside the model ("dream"), beside MPC over the same model, on MuJoCo.

For each model kind and seed: fit the model of the learning loop's first round (``--random-seconds``
of random actions, the task's wrong-constant prior for physics/hybrid, 300 steps;
``bench_control_learning.py``), then run one evaluation episode of the task on MuJoCo with

* MPC: MPPI (200 samples, the task's horizon) over the model, replanning every step;
* dream: :func:`hybridwm.control.train_dream_policy` (``--steps`` Adam steps of imagined
  rollouts, backpropagated through the model; no further real data), then the policy alone.

The imagined rollouts start in a box (``DreamConfig.start_box``): the angles over a full turn,
and, by default, the pendulum's ``omega`` on [-8, 8] rad/s, above the speed of a fall from
upright (sqrt(4 a) = 7.7 rad/s for the true a = 14.7); ``--start-box NAME=LOW,HIGH`` sets others
(``--start-box none``: the training range widened 1.5x, whose velocities are tiny for data
recorded near rest).

    .venv/bin/python benchmarks/bench_control_dream.py --kinds hybrid physics learned --seeds 0 1 2

Prints, per kind and seed: success and return of both, the dream policy's training time and
final loss. Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from bench_control_learning import task_prior

from hybridwm.control import (
    DreamConfig,
    DreamController,
    LearningConfig,
    PlannerConfig,
    get_task,
    make_planner,
    make_rollout,
    run_episode,
    train_dream_policy,
)
from hybridwm.control.learning import fit_round_model, random_episode

#: default start boxes of the imagined rollouts (see the module docstring)
START_BOX = {"pendulum-swingup": {"omega": (-8.0, 8.0)}}


def parse_box(items: list[str] | None, task: str) -> dict[str, tuple[float, float]]:
    """``NAME=LOW,HIGH`` items as a start box; None: the task's default; ``none``: empty."""
    if items is None:
        return dict(START_BOX.get(task, {}))
    if items == ["none"]:
        return {}
    box = {}
    for item in items:
        name, _, bounds = item.partition("=")
        low, high = (float(v) for v in bounds.split(","))
        box[name] = (low, high)
    return box


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="pendulum-swingup")
    parser.add_argument("--kinds", nargs="+", default=["hybrid", "physics", "learned"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--random-seconds", type=float, default=2.0)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--horizon-seconds", type=float, default=2.0)
    parser.add_argument("--start-box", nargs="+", help="NAME=LOW,HIGH ... or none")
    args = parser.parse_args()
    box = parse_box(args.start_box, args.task)
    torch.set_num_threads(1)
    task = get_task(args.task)
    prior = task_prior(args.task)
    print(
        f"{task.name}: models fitted on {args.random_seconds} s of random actions; dream policy "
        f"{args.steps} steps of {args.horizon_seconds} s imagined rollouts, start box {box}"
    )
    print("kind     seed  MPC success  return   dream success  return   train_s  final_loss")
    for kind in args.kinds:
        for seed in args.seeds:
            cfg = LearningConfig(kind=kind, seed=seed, random_seconds=args.random_seconds)
            data = random_episode(task, cfg.random_seconds, np.random.default_rng(seed))
            model = fit_round_model(cfg, None if kind == "learned" else prior, data)
            planner = make_planner(
                make_rollout(model, task), task, PlannerConfig(samples=200, seed=seed)
            )
            mpc = run_episode(task, planner, seed=seed)
            start = time.perf_counter()
            dream_cfg = DreamConfig(
                steps=args.steps, horizon_seconds=args.horizon_seconds, seed=seed, start_box=box
            )
            policy, losses = train_dream_policy(model, task, dream_cfg)
            seconds = time.perf_counter() - start
            dream = run_episode(task, DreamController(policy, f"dream-{kind}"), seed=seed)
            print(
                f"{kind:8s} {seed:4d}  {mpc.success!s:11s} {mpc.total_return:7.1f}   "
                f"{dream.success!s:13s} {dream.total_return:7.1f}   {seconds:7.0f}  "
                f"{losses[-1]:.4f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
