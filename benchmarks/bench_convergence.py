"""Does the default fit converge, on small and on large data? (issue 12, item 6)

The complaint this answers: on a small data set (25 episodes, one training window each) the
default fit once stopped on patience after about 90 optimizer steps and scored two decades
worse than the same model trained for its budget. Patience, schedules and budgets now count
optimizer steps (``TrainConfig`` default: 2000 steps, patience 1000 steps); this script checks
that the defaults reach what a twice larger budget reaches.

Data (``pendulum-rig``: Coulomb friction, motor lag, force saturation and air drag, seed 0):

* ``small``: 25 episodes of 0.2 s, one 20-step window each (the default horizon);
* ``large``: 256 episodes of 3 s (about 70,000 windows).

Models: ``learned`` (2x64 MLP neural ODE), ``physics`` and ``hybrid`` on the declared
rigid-body pendulum prior (mass, length, damping; started 25 % off; it lacks the rig's
friction, lag, saturation and drag). Each is fitted with ``TrainConfig()`` defaults (only the
seed and one thread set) and again with twice the default budget. Reported: optimizer steps
taken, stop reason, best validation loss, and the open-loop nRMSE over 16 fresh ``id``
episodes of 3 s; "converged" when the default's nRMSE is within 1.25x of the doubled
budget's.

    .venv/bin/python benchmarks/bench_convergence.py [--sizes small,large]
        [--models learned,physics,hybrid] [--seed 0] [--json out.json]

Torch runs on one thread. Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from bench_params_known import fit, make_prior, nrmse

from hybridwm.systems import simulate
from hybridwm.training.config import DEFAULT_STEPS

SYSTEM = "pendulum-rig"
SIZES = {"small": (25, 0.2), "large": (256, 3.0)}  # episodes, seconds
TOLERANCE = 1.25


def run(size: str, kind: str, seed: int, test: Any) -> list[dict[str, Any]]:
    """The default budget and twice it, for one data size and model kind."""
    n, seconds = SIZES[size]
    data = simulate(
        system=SYSTEM, scenario="train", n_trajectories=n, duration=seconds, dt=0.01, seed=seed
    )
    rows = []
    for steps in (DEFAULT_STEPS, 2 * DEFAULT_STEPS):
        prior = None if kind == "learned" else make_prior(SYSTEM)
        model, took = fit(kind, prior, data, steps, seed)
        history = model.history_
        rows.append(
            {
                "size": size,
                "model": kind,
                "budget": steps,
                "steps": history.steps,
                "stop": history.stop_reason,
                "best_val_nrmse": float(history.best_score),
                "nrmse": nrmse(model, test),
                "seconds": round(took, 1),
            }
        )
        r = rows[-1]
        print(
            f"  {size} {kind} budget {steps}: {r['steps']} steps ({r['stop']}), best val nRMSE "
            f"{r['best_val_nrmse']:.4g}, test nRMSE {r['nrmse']:.4g}, {took:.0f} s",
            flush=True,
        )
    return rows


def table(rows: list[dict[str, Any]]) -> list[str]:
    """One line per size x model: the default against twice its budget."""
    lines = [
        "| data | model | default: steps (stop) | nRMSE | 2x budget: steps (stop) | nRMSE | "
        "ratio | converged |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for base, double in zip(rows[::2], rows[1::2], strict=True):
        ratio = base["nrmse"] / double["nrmse"]
        lines.append(
            f"| {base['size']} | {base['model']} | {base['steps']} ({base['stop']}) | "
            f"{base['nrmse']:.4g} | {double['steps']} ({double['stop']}) | "
            f"{double['nrmse']:.4g} | {ratio:.3g} | {'yes' if ratio <= TOLERANCE else 'NO'} |"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="small,large")
    parser.add_argument("--models", default="learned,physics,hybrid")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    test = simulate(
        system=SYSTEM, scenario="id", n_trajectories=16, duration=3.0, dt=0.01, seed=1000
    )
    rows: list[dict[str, Any]] = []
    for size in args.sizes.split(","):
        for kind in args.models.split(","):
            rows += run(size, kind, args.seed, test)
            if args.json:
                args.json.write_text(json.dumps(rows, indent=1))
    print("\n".join(table(rows)))
    return rows


if __name__ == "__main__":
    main()
