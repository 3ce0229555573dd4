"""The upper bound: MPPI / iCEM planning with the MuJoCo oracle on every shipped task.

For each task and seed: one closed-loop episode of the task's length on the real system, the
planner predicting with MuJoCo itself (one RK4 step per control period, as the world models
integrate; see ``OracleRollout``). Prints success, return, final goal error and planner time per
step. This is the reference row every model kind is compared against.

    .venv/bin/python benchmarks/bench_control_oracle.py --tasks pendulum-swingup \\
        cartpole-swingup reacher-reach --method mppi --seeds 0 1 2
    .venv/bin/python benchmarks/bench_control_oracle.py --tasks acrobot-swingup --method icem \\
        --iterations 3

Not part of ``make test`` (an acrobot iCEM episode takes minutes on 2 loaded cores).
"""

from __future__ import annotations

import argparse
import time

import torch

from hybridwm.control import PlannerConfig, get_task, list_tasks
from hybridwm.control.runner import control


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=list_tasks())
    parser.add_argument("--method", choices=["mppi", "icem"], default="mppi")
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--iterations", type=int, default=1)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("task               method seed  success  return  final_err  plan_ms  wall_s")
    for name in args.tasks:
        for seed in args.seeds:
            cfg = PlannerConfig(
                method=args.method,
                samples=args.samples,
                iterations=args.iterations,
                elites=min(50, args.samples // 4),
                seed=seed,
            )
            start = time.perf_counter()
            ep = control(name, "oracle", planner=cfg)
            wall = time.perf_counter() - start
            err = float(get_task(name).goal_error(torch.as_tensor(ep.x[-1])))
            print(
                f"{name:18s} {args.method:6s} {seed:4d}  {ep.success!s:7s} "
                f"{ep.total_return:7.1f}  {err:9.3f}  {1000 * ep.plan_seconds.mean():7.1f}  "
                f"{wall:6.0f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
