"""Pendulum swing-up after a parameter change: the fitted model as it is, then adapted.

Fit a model (as round 0 of ``bench_control_learning.py``: 2 s of random torques, the same prior,
300 steps) on the nominal pendulum; change the real pendulum's mass or length by +-30%; run one
10 s MPPI episode over the unchanged model; then record ``--new-seconds`` of random torques on
the changed pendulum, ``WorldModel.adapt`` on them (physics parameters for physics/hybrid,
everything for learned; ``--adapt-steps`` steps) and run the episode again.

    .venv/bin/python benchmarks/bench_control_shift.py --kind hybrid --seed 0

Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import torch
from bench_control_learning import pendulum_prior

from hybridwm.control import LearningConfig, PlannerConfig, get_task, make_planner, make_rollout
from hybridwm.control import run_episode as episode
from hybridwm.control.learning import random_episode
from hybridwm.models import WorldModel
from hybridwm.training import TrainConfig

SHIFTS = {"mass x1.3": {"mass": 1.3}, "mass x0.7": {"mass": 0.7}, "length x1.3": {"length": 1.3}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", default="hybrid")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--new-seconds", type=float, default=2.0)
    parser.add_argument("--adapt-steps", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(1)
    task = get_task("pendulum-swingup")
    cfg = LearningConfig(kind=args.kind, seed=args.seed)
    rng = np.random.default_rng(args.seed)
    data = random_episode(task, cfg.random_seconds, rng)
    physics = None if args.kind == "learned" else pendulum_prior()
    hidden = None if args.kind == "physics" else cfg.hidden
    train = TrainConfig(
        steps=cfg.fit_steps, horizon=cfg.horizon, batch_size=32, seed=args.seed,
        progress=False, validation_fraction=0.0, patience=None,
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = WorldModel.from_kind(args.kind, physics=physics, hidden=hidden).fit(data, train)
    planner = PlannerConfig(samples=200, horizon=30, seed=args.seed)
    print(f"{args.kind} seed {args.seed}: shift, unchanged model, adapted on {args.new_seconds} s")
    for name, change in SHIFTS.items():
        real = task.get_system().with_parameters(**change)
        values = {k: v for k, v in real.parameters.items() if k in change}
        before = episode(
            task, make_planner(make_rollout(model, task), task, planner), parameters=values
        )
        new = real.simulate(
            task.initial_state(rng),
            rng.uniform(-2, 2, size=(round(args.new_seconds / task.dt), 1)),
            task.dt,
        )
        adapted = WorldModel.load(model.save(f"/tmp/bench_control_shift_{args.kind}"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            adapted.adapt(
                new,
                TrainConfig(
                    steps=args.adapt_steps, horizon=cfg.horizon, batch_size=32,
                    seed=args.seed, progress=False, validation_fraction=0.0,
                    patience=None, pinn_weight=0.0,
                ),
            )  # fmt: skip
        after = episode(
            task, make_planner(make_rollout(adapted, task), task, planner), parameters=values
        )
        print(
            f"  {name:12s} unchanged: {before.success!s:5s} ({before.total_return:7.1f})   "
            f"adapted: {after.success!s:5s} ({after.total_return:7.1f})",
            flush=True,
        )


if __name__ == "__main__":
    main()
