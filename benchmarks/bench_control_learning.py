"""Model-based learning loop on a swing-up task: seconds of real interaction to success.

For each model kind and seed, :func:`hybridwm.control.learning.learn_to_control` starts from
``--random-seconds`` of random actions, then repeats fit (from scratch, on all data) -> evaluate
(one 10 s MPPI episode on MuJoCo over the model, scored, not added to the data) -> collect
(``--collect-seconds`` with the planner, added). A round's interaction is the real data its
model was fitted on; ``--until-success`` ends a seed at its first successful round; ``--out DIR``
writes ``learning.json`` and its report (curves of return and success against interaction).
``--shift NAME=FACTOR`` changes the real system after the nominal rounds and continues the loop
there (score the unchanged model, then collect on the changed system and ``adapt``, up to
``--shift-rounds`` times); ``--oracle`` adds the reference row (the planner over MuJoCo itself).

The physics and hybrid models start from the system's equation structure with WRONG constants,
trained on the data; the learned model is an MLP field of the same widths as the hybrid's
residual. The priors:

* ``pendulum-swingup``: ``d(omega) = -a*sin(theta) - c*omega + b*torque`` with ``a = 10`` for
  14.7, ``c = 0.5`` for 0.15, ``b = 2`` for 3; the same prior for ``pendulum-rig-swingup``,
  where it also lacks the rig's Coulomb friction, motor lag and air drag;
* ``cartpole-swingup``: the rigid cart-pole's Lagrangian equations solved for the accelerations
  (``benchmarks/sensor_log/cartpole_prior.toml``), its five free constants started 20-50 % off
  (total mass, pole mass x centre distance, pole inertia, rail and hinge damping).

    .venv/bin/python benchmarks/bench_control_learning.py --kinds hybrid learned --seeds 0 1 2
    .venv/bin/python benchmarks/bench_control_learning.py --task cartpole-swingup --kinds hybrid \
        --seeds 0 1 2 3 4 5 6 7 8 9 --rounds 9 --until-success
    .venv/bin/python benchmarks/bench_control_learning.py --task cartpole-swingup \
        --kinds hybrid physics --until-success --shift pole_mass=1.3 --oracle --out runs/shift

Not part of ``make test`` (minutes: every round fits a model and plans 200 steps).
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from pathlib import Path

import torch

from hybridwm.cli.flags import parse_params
from hybridwm.control import PlannerConfig, get_task
from hybridwm.control.learning import LearningConfig
from hybridwm.control.learning_run import run_learning, write_learning_run
from hybridwm.physics import declare, load_prior
from hybridwm.reports import render_learning_report
from hybridwm.reports.learning import first_successes

CARTPOLE_PRIOR = Path(__file__).parent / "sensor_log" / "cartpole_prior.toml"


def pendulum_prior():
    """The pendulum's structure, constants started 30-70% off and free within bounds."""
    return declare(
        ["d(theta) = omega", "d(omega) = -a*sin(theta) - c*omega + b*torque"],
        {
            "a": {"value": 10.0, "bounds": [0.0, 50.0]},
            "c": {"value": 0.5, "bounds": [0.0, 5.0]},
            "b": {"value": 2.0, "bounds": [0.0, 10.0]},
        },
        action_names=["torque"],
    )


def task_prior(task: str):
    """The wrong-constant prior of ``task``'s system (see the module docstring)."""
    if task in ("pendulum-swingup", "pendulum-rig-swingup"):
        return pendulum_prior()  # on the rig it lacks friction, motor lag and drag
    if task == "cartpole-swingup":
        return load_prior(CARTPOLE_PRIOR)
    raise SystemExit(
        f"--task must be pendulum-swingup, pendulum-rig-swingup or cartpole-swingup; got {task!r}."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="pendulum-swingup")
    parser.add_argument("--kinds", nargs="+", default=["hybrid", "learned"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--fit-steps", type=int, default=300)
    parser.add_argument("--random-seconds", type=float, default=2.0)
    parser.add_argument("--collect-seconds", type=float, default=1.0)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--horizon", type=int, default=30)
    parser.add_argument("--until-success", action="store_true")
    parser.add_argument("--shift", nargs="+", metavar="NAME=FACTOR", help="change after")
    parser.add_argument("--shift-rounds", type=int, default=3)
    parser.add_argument("--adapt-steps", type=int, default=200)
    parser.add_argument("--oracle", action="store_true", help="add the MuJoCo oracle's row")
    parser.add_argument("--out", type=Path, help="write learning.json and the report here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    task = get_task(args.task)
    prior = task_prior(args.task)
    planner = PlannerConfig(samples=args.samples, horizon=args.horizon)
    print(
        f"{task.name}: random {args.random_seconds} s, +{args.collect_seconds} s per round, "
        f"{args.fit_steps} fit steps, MPPI {args.samples} x {args.horizon}"
    )
    print("kind     seed  round  phase     data_s  new_s  success  return   final_err  fit_s")

    def shown(kind: str, seed: int, r) -> None:
        print(
            f"{kind:8s} {seed:4d} {r.round:6d}  {r.phase:8s} {r.interaction_seconds:6.2f} "
            f"{r.new_seconds:6.2f}  {r.success!s:7s} {r.total_return:8.1f}  "
            f"{r.final_goal_error:9.3f}  {r.fit_seconds:5.1f}",
            flush=True,
        )

    loop = LearningConfig(
        kind="learned",  # each run's kind and seed are set by run_learning
        rounds=args.rounds,
        fit_steps=args.fit_steps,
        random_seconds=args.random_seconds,
        collect_seconds=args.collect_seconds,
        until_success=args.until_success,
        shift=parse_params(args.shift, "--shift"),
        shift_rounds=args.shift_rounds,
        adapt_steps=args.adapt_steps,
    )
    start = time.perf_counter()
    run = run_learning(
        task, args.kinds, args.seeds, loop, planner, prior=prior, on_round=shown,
        oracle=args.oracle,
    )  # fmt: skip
    print(f"({time.perf_counter() - start:.0f} s wall)")
    for e in run.oracle:
        print(f"oracle seed {e.seed} {e.phase}: {e.success} ({e.total_return:.1f})")
    print("\nfirst success (seconds of real data the model was fitted on; inf: not reached)")
    for kind, by_seed in first_successes(run).items():
        values = list(by_seed.values())
        reached = sum(math.isfinite(v) for v in values)
        print(
            f"  {kind:8s} {values}  {reached}/{len(values)} seeds, "
            f"median {statistics.median(values):.2f} s"
        )
    if args.out is not None:
        write_learning_run(args.out, run)
        print(f"report: {render_learning_report(args.out)['html']}")


if __name__ == "__main__":
    main()
