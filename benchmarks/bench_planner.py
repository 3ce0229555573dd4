"""Planner speed: one MPPI step of the pendulum hybrid against the bare batched rollout it needs.

An MPPI step with K samples over an H-step horizon scores K action sequences with ONE batched
``WorldModel.rollout`` (K x H model steps, RK4: 4 vector-field calls per step) plus sampling,
rewards and the weighted average. The script times, in one run and the same process:

* ``bare``: ``WorldModel.rollout`` of K random sequences over H steps (no planner);
* ``mppi``: ``MPPI.act`` (the same rollout plus the planner's own work),

in float64 (the model's own type) and float32 (a copy) (``--compile``: also float32 with each
control period's solve compiled, ``make_rollout(compile=True)``, with the seconds the first
call took to compile), and prints steps per second and the
ratio ``mppi / bare`` (the planner's overhead on top of the model). ``--device cuda`` times the
same on a GPU (the model, the samples and the planner's arithmetic there; each timed call
ends with the result on the host, so the GPU's work is inside the time). With ``--oracle`` it also times
the MuJoCo oracle two ways: one ``mujoco.rollout`` call against a Python loop over one
``MjData`` (``--oracle-samples`` sequences, the task's dt per step, one RK4 step each).

The model defaults to the pendulum hybrid of ``hybridwm demo`` (``runs/demo``):

    .venv/bin/python benchmarks/bench_planner.py --threads 2 --oracle

Not part of ``make test``. Times depend on the machine and its load; the ratio less so.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import mujoco
import numpy as np
import torch

from hybridwm.control import MPPI, PlannerConfig, get_task, make_rollout
from hybridwm.models import WorldModel

DEMO_MODEL = Path("runs/demo/jobs/pendulum/seed0/models/hybrid")


def _median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def model_rows(args: argparse.Namespace) -> None:
    task = get_task("pendulum-swingup")
    model = WorldModel.load(args.model)
    print(
        f"model {args.model} ({model.kind}, solver {model.solver}), {args.samples} samples x "
        f"{args.horizon} steps, {torch.get_num_threads()} torch thread(s), device {args.device}"
    )
    variants = [(torch.float64, False), (torch.float32, False)]
    variants += [(torch.float32, True)] if args.compile else []
    plain_bare = float("nan")  # the plain float32 bare rollout, the compiled row's reference
    for dtype, compiled in variants:
        start = time.perf_counter()
        rollout = make_rollout(model, task, dtype=dtype, device=args.device, compile=compiled)
        gen = torch.Generator().manual_seed(0)
        x0 = torch.zeros(args.samples, 2, dtype=dtype, device=args.device)
        us = (torch.rand(args.samples, args.horizon, 1, generator=gen, dtype=dtype) - 0.5) * 4
        us = us.to(args.device)
        rollout(x0, us)  # a compiled rollout compiles on its first call of this shape
        setup = time.perf_counter() - start
        bare = _median_seconds(lambda r=rollout, a=x0, b=us: r(a, b).cpu(), args.repeats)
        cfg = PlannerConfig(samples=args.samples, horizon=args.horizon)
        planner = MPPI(rollout, task, cfg)
        state = np.array([0.1, 0.0])
        mppi = _median_seconds(lambda p=planner, s=state: p.act(s), args.repeats)
        name = str(dtype).replace("torch.", "")
        extra = ""
        if compiled:  # against the plain float32 model's bare rollout, measured above
            name += f" compiled (first call {setup:.0f} s)"
            extra = f"   mppi / plain float32 bare {mppi / plain_bare:4.2f}"
        elif dtype == torch.float32:
            plain_bare = bare
        print(
            f"  {name}: bare rollout {1000 * bare:7.1f} ms   MPPI step {1000 * mppi:7.1f} ms "
            f"= {1 / mppi:5.1f} Hz   ratio mppi/bare {mppi / bare:4.2f}{extra}"
        )


def oracle_rows(args: argparse.Namespace) -> None:
    task = get_task("pendulum-swingup")
    oracle = make_rollout("oracle", task)
    k, h = args.oracle_samples, args.horizon
    gen = torch.Generator().manual_seed(0)
    x0 = torch.zeros(k, 2, dtype=torch.float64)
    us = (torch.rand(k, h, 1, generator=gen, dtype=torch.float64) - 0.5) * 4
    batched = _median_seconds(lambda: oracle(x0, us), args.repeats)
    data = mujoco.MjData(oracle.mj_model)
    us_np = us.numpy()

    def loop() -> None:
        for i in range(k):
            data.qpos[:], data.qvel[:] = 0.0, 0.0
            for j in range(h):
                data.ctrl[:] = us_np[i, j]
                mujoco.mj_step(oracle.mj_model, data)

    looped = _median_seconds(loop, args.repeats)
    print(
        f"oracle ({k} samples x {h} steps, {len(oracle.datas)} MuJoCo thread(s)): "
        f"mujoco.rollout {1000 * batched:7.1f} ms   Python loop over MjData "
        f"{1000 * looped:7.1f} ms   (loop/rollout {looped / batched:4.1f}x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEMO_MODEL, help="fitted pendulum model")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--horizon", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--device", default="cpu", help="torch device of model and planner")
    parser.add_argument("--compile", action="store_true", help="add a compiled float32 row")
    parser.add_argument("--oracle", action="store_true", help="also time the MuJoCo oracle")
    parser.add_argument("--oracle-samples", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if not args.model.is_dir():
        raise SystemExit(
            f"--model {args.model} is not a fitted model directory; run `hybridwm demo` "
            f"(it writes {DEMO_MODEL}) or pass --model DIR."
        )
    model_rows(args)
    if args.oracle:
        oracle_rows(args)


if __name__ == "__main__":
    main()
