"""Closure (``TrainConfig.closure``) where the prior is exact and where no simple law completes it.

``bench_identifiability.py`` measures the closure where it is meant to help: a declared prior
that lacks a friction a generic library can write. This script measures it where it can only
hurt: the declared rigid-body pendulum prior of ``bench_params_known.py`` (parameters started
25 % off) fitted to

* ``pendulum``: the prior is exact, there is nothing to close;
* ``pendulum-rig``: the prior lacks the rig's Coulomb friction, motor lag, actuator saturation,
  quadratic drag and sensor noise, which no low-order polynomial writes exactly; a closure
  found there extrapolates an approximation.

Models, each with the same data (the ``train`` scenario, 32 x 3 s) and the same number of
optimizer steps: ``physics`` (the prior alone, trained), ``hybrid`` (defaults, so
``closure="auto"``), ``hybrid-no-closure`` (``closure="off"``) and ``learned``. Scored by the
nRMSE of 16 x 10 s episodes (seed 1000) of ``id``, ``ood-state`` and ``ood-action``; printed per
seed with what the closure found and kept, then the medians over seeds and the ratios
hybrid / physics, hybrid / hybrid-no-closure and hybrid / learned.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_closure.py \\
        [--systems pendulum,pendulum-rig] [--seeds 0,1,2] [--steps 2000] [--models hybrid,...]
        [--json out.json]

Torch runs on one thread. Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

import torch
from bench_identifiability import closure_cell, fit_one
from bench_params_known import EVAL_SECONDS, N_EVAL, N_TRAIN, TRAIN_SECONDS, make_prior, nrmse
from bench_physics_first import episodes

SCENARIOS = ("id", "ood-state", "ood-action")
#: the models of ``bench_identifiability.MODELS`` this bench compares
MODELS = ("physics", "hybrid", "hybrid-no-closure", "learned")


def run(
    system: str, seed: int, steps: int, models: tuple[str, ...] = MODELS
) -> list[dict[str, Any]]:
    """The ``models`` (of :data:`MODELS`) on ``system`` with ``seed``; prints one line each."""
    prior = make_prior(system)
    train = episodes(system, "train", N_TRAIN, TRAIN_SECONDS, seed)
    tests = {s: episodes(system, s, N_EVAL, EVAL_SECONDS, 1000) for s in SCENARIOS}
    rows = []
    for name in models:
        model, seconds = fit_one(name, prior, train, steps, seed)
        row = {
            "system": system,
            "model": name,
            "seed": seed,
            "nrmse": {s: nrmse(model, d) for s, d in tests.items()},
            "params": {} if model.kind == "learned" else model.physics_.parameter_values,
            "closure": closure_cell(model),
            "steps": model.history_.steps,
            "seconds": seconds,
        }
        rows.append(row)
        scores = " ".join(f"{s} {v:.4g}" for s, v in row["nrmse"].items())
        print(
            f"{system} seed {seed} {name}: {scores}; {row['steps']} steps, "
            f"{row['seconds']:.0f} s; closure: {row['closure']}",
            flush=True,
        )
    return rows


def summary(rows: list[dict[str, Any]]) -> list[str]:
    """Markdown: medians per system and model, and the hybrid's ratios to the others."""
    lines = ["| system | model | " + " | ".join(SCENARIOS) + " |", "|---|---|---|---|---|"]
    med: dict[tuple[str, str], dict[str, float]] = {}
    for system in dict.fromkeys(r["system"] for r in rows):
        for name in MODELS:
            mine = [r for r in rows if r["system"] == system and r["model"] == name]
            if not mine:
                continue
            med[system, name] = {
                s: statistics.median(r["nrmse"][s] for r in mine) for s in SCENARIOS
            }
            cells = " | ".join(f"{med[system, name][s]:.4g}" for s in SCENARIOS)
            lines.append(f"| {system} | {name} | {cells} |")
        hybrid = med.get((system, "hybrid"))
        for other in ("physics", "hybrid-no-closure", "learned"):
            if hybrid and (system, other) in med:
                ratio = " | ".join(f"{hybrid[s] / med[system, other][s]:.3g}×" for s in SCENARIOS)
                lines.append(f"| {system} | hybrid / {other} | {ratio} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", default="pendulum,pendulum-rig")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--models", default=",".join(MODELS), help=f"subset of {list(MODELS)}")
    parser.add_argument("--json", type=Path, default=None, help="write every row here")
    args = parser.parse_args()
    models = tuple(args.models.split(","))
    if unknown := set(models) - set(MODELS):
        parser.error(f"--models: unknown {sorted(unknown)}; choose from {list(MODELS)}")
    torch.set_num_threads(1)
    rows = [
        row
        for system in args.systems.split(",")
        for seed in (int(s) for s in args.seeds.split(","))
        for row in run(system, seed, args.steps, models)
    ]
    print(f"\n### Medians over seeds {args.seeds}, {args.steps} steps per model (nRMSE)\n")
    print("\n".join(summary(rows)))
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
