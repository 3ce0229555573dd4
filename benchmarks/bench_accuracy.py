"""Accuracy benchmark: OOD nRMSE of learned, physics-only, hybrid and hybrid-without-PINN.

Runs (or resumes) the ``full`` benchmark preset — pendulum, cartpole, acrobot and reacher,
3 seeds, equal data and training budget for every model kind — and prints, per system and OOD
scenario, the mean ± std over seeds of each model's nRMSE and the issue-7 targets:

* hybrid ≤ 0.05 × learned on every system (per OOD scenario);
* hybrid ≤ 0.8 × physics-only where the discovered physics is incomplete (its ID nRMSE is
  above ``--complete-below``);
* hybrid never worse than physics-only by more than 10 %.

Usage::

    .venv/bin/python benchmarks/bench_accuracy.py --out runs/bench-full            # full preset
    .venv/bin/python benchmarks/bench_accuracy.py --out runs/bench-small --max-time 60 --seeds 0 1 2

The run directory is the benchmark's own (``results.json``, ``report.html``), so an interrupted
run resumes. Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

OOD = ("ood-state", "ood-action", "ood-params")


def summarize(results_path: Path, complete_below: float) -> pd.DataFrame:
    """Per system × scenario × model mean/std nRMSE over seeds, from a results.json."""
    results = json.loads(results_path.read_text())
    rows = pd.DataFrame(results["metrics"])
    rows = rows[rows["metric"] == "nrmse"].copy()
    rows["value"] = pd.to_numeric(rows["value"].replace({"inf": np.inf}), errors="coerce")
    table = rows.groupby(["system", "scenario", "model"])["value"].agg(["mean", "std", "count"])
    table["std"] = table["std"].fillna(0.0)
    out = table.reset_index()
    id_phys = out.query("scenario == 'id' and model == 'physics'").set_index("system")["mean"]
    out["physics_incomplete"] = out["system"].map(
        lambda s: bool(id_phys.get(s, 0) > complete_below)
    )
    return out


def targets(table: pd.DataFrame) -> list[dict[str, object]]:
    """Evaluate the three targets for every system × OOD scenario."""
    checks = []
    for (system, scenario), cell in table[table["scenario"].isin(OOD)].groupby(
        ["system", "scenario"]
    ):
        mean = cell.set_index("model")["mean"]
        if not {"hybrid", "learned", "physics"} <= set(mean.index):
            continue
        h, lrn, p = mean["hybrid"], mean["learned"], mean["physics"]
        incomplete = bool(cell["physics_incomplete"].iloc[0])
        checks.append(
            {
                "system": system,
                "scenario": scenario,
                "hybrid/learned": h / lrn,
                "≤0.05×learned": bool(h <= 0.05 * lrn),
                "hybrid/physics": h / p,
                "≤0.8×physics (incomplete only)": bool(h <= 0.8 * p) if incomplete else None,
                "≤1.1×physics": bool(h <= 1.1 * p),
            }
        )
    return checks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/bench-full"))
    parser.add_argument("--preset", default="full")
    parser.add_argument("--max-time", type=float, default=None, help="training budget per model")
    parser.add_argument("--seeds", type=int, nargs="*", default=None)
    parser.add_argument("--systems", nargs="*", default=None)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument(
        "--complete-below",
        type=float,
        default=0.01,
        help="physics counts as complete when its ID nRMSE is below this",
    )
    parser.add_argument("--summary-only", action="store_true", help="only read results.json")
    args = parser.parse_args()

    if not args.summary_only:
        import torch

        from hybridwm.evaluation import benchmark, load_preset
        from hybridwm.reports import render_report

        torch.set_num_threads(1)
        overrides: dict[str, object] = {}
        if args.seeds:
            overrides["seeds"] = args.seeds
        if args.systems:
            overrides["systems"] = args.systems
        if args.workers:
            overrides["workers"] = args.workers
        cfg = load_preset(args.preset, **overrides)
        if args.systems:
            cfg = cfg.replace(discover={k: v for k, v in cfg.discover.items() if k in args.systems})
        if args.max_time is not None:
            cfg = cfg.replace(train={**cfg.train, "max_time": args.max_time})
        benchmark(cfg, args.out, progress=True)
        render_report(args.out)

    table = summarize(args.out / "results.json", args.complete_below)
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", None)
    pivot = table.assign(cell=table.apply(lambda r: f"{r['mean']:.3g} ± {r['std']:.2g}", axis=1))
    print(
        pivot.pivot_table(
            index=["system", "scenario"], columns="model", values="cell", aggfunc="first"
        )
    )
    print()
    print(pd.DataFrame(targets(table)).to_string(index=False))


if __name__ == "__main__":
    main()
