"""Planning over an ensemble with a disagreement penalty (issue 16): does penalising the
members' disagreement change closed-loop success?

Per seed: ``--train-episodes`` episodes of ``--duration`` s of the pendulum's ``train`` scenario
(dt = the task's 0.05 s), a ``WorldModelEnsemble`` of ``--members`` members per kind (bootstrap
over episodes, seeds ``seed + m``; ``TrainConfig(steps=--steps)``, the library's other defaults;
hybrid members share the declared pendulum prior with its constants free), then the
pendulum swing-up task in MuJoCo, MPPI (``--samples`` samples, the task's 1.5 s horizon) over the
ensemble's samples, once per penalty weight in ``--weights`` (``PlannerConfig.disagreement``: 0
is the members' mean return alone, as PETS scores). The weights are a fixed grid set before
any run, not tuned. Printed per kind, weight and seed: success (the pole within 0.2 rad of
upright for the last 2 s), return, final goal error, planner ms per step; then the summary.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_plan_disagreement.py \
        [--kinds learned,hybrid] [--seeds 0,1,2] [--weights 0,1,10]

Torch runs on one thread. Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch

from hybridwm.control import PlannerConfig, get_task, make_planner, make_rollout, run_episode
from hybridwm.models.ensemble import WorldModelEnsemble
from hybridwm.physics import declare
from hybridwm.systems import simulate
from hybridwm.training import TrainConfig

TASK = "pendulum-swingup"


def prior():
    """The pendulum's equations with free constants (start values 20 % off the truth)."""
    return declare(
        ["d(theta) = omega", "d(omega) = -a*sin(theta) - c*omega + b*torque"],
        {"a": 0.8 * 14.715, "c": 0.8 * 0.15, "b": 0.8 * 3.0},
        action_names=["torque"],
        bounds={"a": (0, 100), "c": (0, 10), "b": (0, 100)},
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kinds", default="learned,hybrid")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--weights", default="0,1,10")
    p.add_argument("--members", type=int, default=5)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--train-episodes", type=int, default=8)
    p.add_argument("--duration", type=float, default=2.0)
    p.add_argument("--samples", type=int, default=200)
    args = p.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    task = get_task(TASK)
    rows = []
    print("| kind | weight | seed | success | return | final goal error | ms/step |")
    print("|---|---|---|---|---|---|---|")
    for seed in map(int, args.seeds.split(",")):
        data = simulate(
            system="pendulum", scenario="train", n_trajectories=args.train_episodes,
            duration=args.duration, dt=task.dt, seed=seed, progress=False,
        )  # fmt: skip
        for kind in args.kinds.split(","):
            ens = WorldModelEnsemble(
                kind,
                physics=None if kind == "learned" else prior(),
                n_members=args.members,
                seed=seed,
            ).fit(data, TrainConfig(steps=args.steps, seed=seed, progress=False))
            rollout = make_rollout(ens, task)
            for weight in map(float, args.weights.split(",")):
                cfg = PlannerConfig(samples=args.samples, seed=seed, disagreement=weight)
                start = time.perf_counter()
                ep = run_episode(task, make_planner(rollout, task, cfg), seed=seed)
                error = float(task.goal_error(torch.as_tensor(ep.x[-1])))
                ms = 1e3 * float(np.mean(ep.plan_seconds))
                rows.append((kind, weight, seed, ep.success, ep.total_return, error))
                print(f"| {kind} | {weight:g} | {seed} | {ep.success} | {ep.total_return:.1f} | "
                      f"{error:.3f} | {ms:.0f} |  ({time.perf_counter() - start:.0f} s)",
                      flush=True)  # fmt: skip
    print("\n| kind | weight | success | return (mean) | final goal error (median) |")
    print("|---|---|---|---|---|")
    for kind in args.kinds.split(","):
        for weight in map(float, args.weights.split(",")):
            sel = [r for r in rows if r[0] == kind and r[1] == weight]
            print(f"| {kind} | {weight:g} | {sum(r[3] for r in sel)}/{len(sel)} | "
                  f"{np.mean([r[4] for r in sel]):.1f} | "
                  f"{np.median([r[5] for r in sel]):.3f} |")  # fmt: skip


if __name__ == "__main__":
    main()
