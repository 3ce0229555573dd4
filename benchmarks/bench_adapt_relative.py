"""Recalibration of discovered physics, relative against absolute steps (issue 12/13).

``WorldModel.adapt`` trains a discovered model's coefficients as ``c = c0 + |c0| s`` (each moves
by fractions of itself; ``hybridwm.models.adaptation``). Before, they moved in absolute steps,
and a small term that discovery kept beside a large, nearly collinear one (``0.0035
sin(theta) cos(theta)`` beside ``-14.7 sin(theta)``) absorbed part of the shift.

This script takes a finished benchmark run directory whose models were adapted by the earlier
code (``runs/gate-sweep``: the quick preset's data, discovery and budgets over seeds 0-2),
adapts the same fitted ``physics`` and ``hybrid`` models again with the current code on the same
calibration records, with the same config (``BenchmarkConfig.train_config(..., adapt=...)``:
200 steps), and evaluates them on the same ``ood-params`` episodes with the benchmark's own
``evaluate``. It prints the run's recorded nRMSE (absolute steps) beside the new one, per
system, seed and kind, with the learned model's recorded number for reference:

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_adapt_relative.py --run runs/gate-sweep

Each row also prints what ``adapt`` kept (``adapted_parts_``: a hybrid's residual is kept or
switched off, whichever validates better on the calibration record's held-out episodes).

Nothing in the run directory is changed; the re-adapted models are kept in memory only.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import torch

from hybridwm.data.io import read_trajectories
from hybridwm.evaluation.config import BenchmarkConfig
from hybridwm.evaluation.evaluate import evaluate
from hybridwm.models import WorldModel

SCENARIO = "ood-params"
KINDS = ("physics", "hybrid")


def recorded(job: Path, kind: str, label: str) -> float:
    """The nRMSE the run recorded for ``kind`` on scenario ``label``."""
    rows = json.loads((job / "eval" / f"{kind}.json").read_text())["metrics"]
    (value,) = [r["value"] for r in rows if r["scenario"] == label and r["metric"] == "nrmse"]
    return float(value)


def omega_terms(model: WorldModel) -> str:
    """The adapted equation of the last state (the acceleration), as printed."""
    return str(model.physics_model).splitlines()[-1].strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=Path("runs/gate-sweep"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = BenchmarkConfig.from_file(args.run / "config.json")
    label = cfg.adapted(SCENARIO)
    print(f"run {args.run}: systems {cfg.systems}, seeds {cfg.seeds}; adapt budget "
          f"{cfg.train_config(cfg.seeds[0], 'physics', adapt=SCENARIO).steps} steps")  # fmt: skip
    print("| system | seed | kind | absolute steps (recorded) | relative steps (now) | learned |")
    print("|---|---|---|---|---|---|")
    for system in cfg.systems:
        for seed in cfg.seeds:
            job = args.run / "jobs" / system / f"seed{seed}"
            calibration = read_trajectories(job / "data" / f"{SCENARIO}-calibration.parquet")
            episodes = read_trajectories(job / "data" / f"{SCENARIO}.parquet")
            learned = recorded(job, "learned", label)
            for kind in KINDS:
                config = cfg.train_config(seed, kind, adapt=SCENARIO)
                model = WorldModel.load(job / "models" / kind)
                start = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model.adapt(calibration, config, parts="auto")
                seconds = time.perf_counter() - start
                now = float(evaluate(model, episodes, vpt_threshold=cfg.vpt_threshold)
                            .metrics["nrmse"])  # fmt: skip
                before = recorded(job, kind, label)
                print(f"| {system} | {seed} | {kind} | {before:.3g} | {now:.3g} | {learned:.3g} |"
                      f"  <- {model.adapted_parts_}: {omega_terms(model)} ({seconds:.0f} s)",
                      flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
