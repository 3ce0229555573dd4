"""Scaling of the benchmark grid: the same grid with 1 worker and with 2 (or more) workers.

Runs a preset's grid (default ``quick``; ``--systems`` and ``--steps`` cut it down) once per
worker count, each in a fresh run directory, through the given executor (``local`` process
pool or ``ray`` on a local Ray instance), and prints:

* the wall time of each run and the speed-up over the first (target >= 1.7x for 2 workers on
  2 cores), with the load average seen before and after (other processes on the machine
  slow both runs and spoil the ratio);
* the machine's own ceiling: the throughput of N copies of one fixed fit-like task run at once
  over one copy alone, measured in the same run (virtual cores that share a physical core, or
  memory bandwidth, cap every executor's speed-up below N);
* that the runs wrote the same ``results.json`` (the executor does not change the numbers);
* the measured cost of each job (fit + adapt from ``timings.json``, and the wall time between
  finished jobs of the 1-worker run: simulate + discover + fit + evaluate), and from them a
  plan for the ``full`` preset on N machines.

    .venv/bin/python benchmarks/bench_scaling.py [--preset quick] [--systems pendulum]
        [--steps 200] [--adapt-steps 50] [--workers 1 2] [--executor local] [--machines 1 4 16]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import tempfile
import time
from pathlib import Path

from hybridwm.evaluation import benchmark, load_preset
from hybridwm.evaluation.shards import job_keys


def _config(args: argparse.Namespace, workers: int):
    cfg = load_preset(args.preset, workers=workers, executor=args.executor)
    if args.systems:
        cfg = cfg.replace(
            systems=tuple(args.systems),
            discover={k: v for k, v in cfg.discover.items() if k in args.systems or k == "*"},
        )
    if args.steps:
        cfg = cfg.replace(train={**cfg.train, "steps": args.steps})
    if args.adapt_steps:
        adapt = {
            sc: a.replace(train={**a.train, "steps": args.adapt_steps})
            for sc, a in cfg.adapt.items()
        }
        cfg = cfg.replace(adapt=adapt)
    return cfg


def _run(cfg, out: Path) -> tuple[float, list[float]]:
    """Wall time of the run and the times at which each job finished (from the start)."""
    finished: list[float] = []
    started = time.perf_counter()

    def log(line: str) -> None:
        if line.endswith("computed"):
            finished.append(time.perf_counter() - started)

    benchmark(cfg, out, progress=False, log=log)
    return time.perf_counter() - started, finished


def _job_costs(run: Path) -> dict[str, float]:
    """Seconds of fit + adaptation per (system, model), from timings.json."""
    costs: dict[str, float] = {}
    for r in json.loads((run / "timings.json").read_text())["timings"]:
        key = f"{r['system']}/{r['model']}"
        costs[key] = costs.get(key, 0.0) + float(r["value"])
    return costs


def _busy(seconds_of_work: int) -> float:
    """A fixed CPU-bound task shaped like a fit (small MLP, Adam steps on one torch thread);
    returns its own wall time."""
    import torch

    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(4, 64), torch.nn.Tanh(), torch.nn.Linear(64, 64), torch.nn.Tanh(),
        torch.nn.Linear(64, 2),
    ).double()  # fmt: skip
    opt = torch.optim.Adam(net.parameters())
    x = torch.randn(2048, 4, generator=gen, dtype=torch.float64)
    started = time.perf_counter()
    for _ in range(300 * seconds_of_work):
        opt.zero_grad()
        net(x).pow(2).mean().backward()
        opt.step()
    return time.perf_counter() - started


def _ceiling(workers: int) -> float:
    """The machine's own speed-up for ``workers`` copies of :func:`_busy` run at once (each
    in its own process) over one copy run alone: what no executor can exceed here."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        alone = pool.submit(_busy, 4).result()
        together = [f.result() for f in [pool.submit(_busy, 4) for _ in range(workers)]]
    return workers * alone / max(together)


def _plan(args: argparse.Namespace, per_job: float, quick_steps: int) -> None:
    full = load_preset("full")
    n_jobs = len(job_keys(full))
    scale = (full.train["steps"] + full.adapt["ood-params"].train.get("steps", 0)) / quick_steps
    job = per_job * scale
    print(
        f"\nPlan for the full preset: {n_jobs} jobs ({len(full.systems)} systems x "
        f"{len(full.seeds)} seeds x {len(full.models)} models); a job here took {per_job:.1f} s "
        f"at {quick_steps} optimizer steps (fit + adapt), so about {job:.0f} s at the full "
        f"preset's {full.train['steps']} + {full.adapt['ood-params'].train.get('steps', 0)} "
        f"steps (the cart-pole, acrobot and reacher cost more per step than the pendulum)."
    )
    for machines in args.machines:
        slots = machines * args.cores
        waves = math.ceil(n_jobs / slots)
        print(
            f"  {machines:>3} machine(s) x {args.cores} cores = {slots:>3} slots: "
            f"{waves} wave(s) of jobs, about {waves * job / 3600:.2f} h"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="quick")
    p.add_argument("--systems", nargs="*", default=None)
    p.add_argument("--steps", type=int, default=None, help="optimizer steps per fit")
    p.add_argument("--adapt-steps", type=int, default=None, help="optimizer steps per adapt")
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--executor", default="local", choices=["local", "ray"])
    p.add_argument("--machines", type=int, nargs="+", default=[1, 4, 16])
    p.add_argument("--cores", type=int, default=2, help="cores per machine in the plan")
    p.add_argument(
        "--ceiling-only", action="store_true", help="measure only the machine's own ceiling"
    )
    args = p.parse_args()
    if args.ceiling_only:
        for w in args.workers[1:]:
            print(f"ceiling for {w} workers: {_ceiling(w):.2f}x (load {os.getloadavg()[0]:.2f})")
        return
    runs = {}
    with tempfile.TemporaryDirectory(prefix="bench-scaling-") as tmp:
        for workers in args.workers:
            cfg = _config(args, workers)
            load = os.getloadavg()[0]
            wall, finished = _run(cfg, Path(tmp) / f"w{workers}")
            runs[workers] = (wall, finished, load, os.getloadavg()[0])
            print(
                f"{len(job_keys(cfg))} jobs ({', '.join(cfg.systems)}; {cfg.train['steps']} "
                f"steps), {workers} worker(s), executor {args.executor}: {wall:.1f} s "
                f"(load average {load:.2f} before, {runs[workers][3]:.2f} after)",
                flush=True,
            )
        base = args.workers[0]
        for w in args.workers[1:]:
            print(
                f"the machine's own ceiling: {w} copies of a fixed fit-like task at once run "
                f"{_ceiling(w):.2f}x the throughput of one alone (load average "
                f"{os.getloadavg()[0]:.2f})",
                flush=True,
            )
        results = {w: (Path(tmp) / f"w{w}" / "results.json").read_bytes() for w in args.workers}
        print(f"same results.json for every worker count: {len(set(results.values())) == 1}")
        for w in args.workers[1:]:
            print(f"speed-up {w} vs {base} worker(s): {runs[base][0] / runs[w][0]:.2f}x")
        costs = _job_costs(Path(tmp) / f"w{base}")
        gaps = [b - a for a, b in zip([0.0, *runs[base][1]], runs[base][1], strict=False)]
        print("fit + adapt per job [s]: " + ", ".join(f"{k} {v:.1f}" for k, v in costs.items()))
        print("wall between finished jobs, 1st run [s]: " + ", ".join(f"{g:.1f}" for g in gaps))
        steps = cfg.train["steps"] + cfg.adapt["ood-params"].train.get("steps", 0)
        _plan(args, statistics.mean(costs.values()), steps)


if __name__ == "__main__":
    main()
