"""Swing-up after a parameter change: the fitted model as it is, then adapted.

Fit a model (as round 0 of ``bench_control_learning.py``: 2 s of random actions, the same prior,
300 steps) on the nominal system; change the real pendulum's mass or length (the cart-pole's
pole mass or length) by +-30% (factors of the nominal values: before 2026-12-04 the cart-pole's
pole mass was set to 1.3 / 0.7 kg, 13x / 7x its nominal 0.1 kg, by mistake); run one 10 s MPPI
episode over the unchanged model; then record
``--new-seconds`` of random actions (uniform within the action bounds) on the changed system,
``WorldModel.adapt`` on them (physics parameters for physics/hybrid, everything for learned;
``--adapt-steps`` steps) and run the episode again.

    .venv/bin/python benchmarks/bench_control_shift.py --kind hybrid --seeds 0
    .venv/bin/python benchmarks/bench_control_shift.py --task cartpole-swingup --seeds 0 1 2

Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import copy
import warnings

import numpy as np
import torch
from bench_control_learning import task_prior

from hybridwm.control import LearningConfig, PlannerConfig, get_task, make_planner, make_rollout
from hybridwm.control import run_episode as episode
from hybridwm.control.learning import random_episode, shifted_parameters
from hybridwm.models import WorldModel
from hybridwm.training import TrainConfig

SHIFTS = {
    "pendulum-swingup": {
        "mass x1.3": {"mass": 1.3},
        "mass x0.7": {"mass": 0.7},
        "length x1.3": {"length": 1.3},
    },
    "cartpole-swingup": {
        "pole mass x1.3": {"pole_mass": 1.3},
        "pole mass x0.7": {"pole_mass": 0.7},
        "pole length x1.3": {"pole_length": 1.3},
        "pole length x0.7": {"pole_length": 0.7},
    },
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="pendulum-swingup", choices=sorted(SHIFTS))
    parser.add_argument("--kind", default="hybrid")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--new-seconds", type=float, default=2.0)
    parser.add_argument("--adapt-steps", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(1)
    task = get_task(args.task)
    print(f"{args.task}, {args.kind}: shift, unchanged model, adapted on {args.new_seconds} s")
    for seed in args.seeds:
        run_seed(task, args, seed)


def run_seed(task, args: argparse.Namespace, seed: int) -> None:
    """Fit on the nominal system, then every shift of the task: unchanged, then adapted."""
    cfg = LearningConfig(kind=args.kind, seed=seed)
    rng = np.random.default_rng(seed)
    data = random_episode(task, cfg.random_seconds, rng)
    physics = None if args.kind == "learned" else task_prior(task.name)
    hidden = None if args.kind == "physics" else cfg.hidden
    train = TrainConfig(
        steps=cfg.fit_steps, horizon=cfg.horizon, batch_size=32, seed=seed,
        progress=False, validation_fraction=0.0, patience=None,
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = WorldModel.from_kind(args.kind, physics=physics, hidden=hidden).fit(data, train)
    planner = PlannerConfig(samples=200, horizon=30, seed=seed)
    nominal = episode(task, make_planner(make_rollout(model, task), task, planner))
    print(f"seed {seed}: nominal system {nominal.success!s:5s} ({nominal.total_return:7.1f})")
    for name, change in SHIFTS[task.name].items():
        values = shifted_parameters(task, change)  # the factors times the nominal values
        real = task.get_system().with_parameters(**values)
        before = episode(
            task, make_planner(make_rollout(model, task), task, planner), parameters=values
        )
        bounds = real.action_bounds
        actions = rng.uniform(
            bounds[:, 0], bounds[:, 1], size=(round(args.new_seconds / task.dt), real.n_u)
        )
        new = real.simulate(task.initial_state(rng), actions, task.dt)
        adapted = copy.deepcopy(model)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            adapted.adapt(
                new,
                TrainConfig(
                    steps=args.adapt_steps, horizon=cfg.horizon, batch_size=32,
                    seed=seed, progress=False, validation_fraction=0.0,
                    patience=None, pinn_weight=0.0,
                ),
            )  # fmt: skip
        after = episode(
            task, make_planner(make_rollout(adapted, task), task, planner), parameters=values
        )
        print(
            f"  {name:17s} unchanged: {before.success!s:5s} ({before.total_return:7.1f})   "
            f"adapted: {after.success!s:5s} ({after.total_return:7.1f})",
            flush=True,
        )


if __name__ == "__main__":
    main()
