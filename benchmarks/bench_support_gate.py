"""The support gate's width (``ModelSpec.gate_width``, issue 12): hybrids refitted on the data of
a finished benchmark run (``benchmarks/gate_sweep.toml``), one per width, with the run's physics,
training settings and step budget, scored on the run's evaluation episodes.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_support_gate.py --run runs/gate-sweep \
        [--systems pendulum,pendulum-rig] [--seeds 0,1,2] [--widths 0.1,0.25,0.5,1.0] \
        [--gate states]

Prints one line per (system, seed, width) with the nRMSE of each scenario beside the run's
physics-only model and the hybrid without a gate (read from the run's job files). With
``--table`` it refits nothing and prints the run's own tables instead: nRMSE per model and
scenario for every seed with the median, and each hybrid's median ratio (per seed) to the
physics-only and the learned model. Torch runs on one thread. Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from hybridwm.data import read_trajectories
from hybridwm.evaluation import BenchmarkConfig, evaluate
from hybridwm.models import WorldModel
from hybridwm.physics import PhysicsModel

SCENARIOS = ("id", "ood-state", "ood-action")
TABLE_SCENARIOS = ("id", "ood-state", "ood-action", "ood-params-adapted")
MODELS = ("learned", "physics", "hybrid", "hybrid-no-gate", "hybrid-gate-inputs", "hybrid-no-pinn")


def _seed_values(g: pd.DataFrame, model: str, scenario: str) -> np.ndarray:
    rows = g[(g.model == model) & (g.scenario == scenario)].sort_values("seed")
    return rows.value.to_numpy()


def table(run: Path) -> None:
    """Print the run's nRMSE tables (Markdown) per system, and each hybrid's ratios."""
    m = pd.read_parquet(run / "metrics.parquet")
    m = m[m.metric == "nrmse"]
    for system, g in m.groupby("system"):
        seeds = ",".join(map(str, sorted(g.seed.unique())))
        print(f"\n{system}: nRMSE, seeds {seeds} (median)")
        print("| model | " + " | ".join(TABLE_SCENARIOS) + " |")
        print("|---" * (len(TABLE_SCENARIOS) + 1) + "|")
        models = [x for x in MODELS if x in set(g.model)]
        for model in models:
            cells = []
            for sc in TABLE_SCENARIOS:
                v = _seed_values(g, model, sc)
                text = " / ".join(f"{x:.3g}" for x in v)
                cells.append(f"{text} (**{np.median(v):.3g}**)" if len(v) else "-")
            print(f"| {model} | " + " | ".join(cells) + " |")
        for h in (x for x in models if x.startswith("hybrid")):
            for base in ("physics", "learned"):
                ratios = []
                for sc in TABLE_SCENARIOS:
                    hv, bv = _seed_values(g, h, sc), _seed_values(g, base, sc)
                    ok = len(hv) and len(bv) == len(hv)
                    ratios.append(f"{np.median(hv / bv):.2f}x" if ok else "-")
                print(f"| {h} / {base} (median of per-seed ratios) | " + " | ".join(ratios) + " |")


def _run_scores(job: Path, model: str) -> dict[str, float]:
    """nRMSE per scenario of ``model`` in the run's job file."""
    rows = json.loads((job / "eval" / f"{model}.json").read_text())["metrics"]
    return {r["scenario"]: r["value"] for r in rows if r["metric"] == "nrmse"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--systems", default="pendulum,pendulum-rig")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--widths", default="0.1,0.25,0.5,1.0")
    parser.add_argument("--gate", default="states", choices=["states", "inputs"])
    parser.add_argument("--table", action="store_true", help="print the run's tables only")
    args = parser.parse_args()
    if args.table:
        table(args.run)
        return
    torch.set_num_threads(1)
    cfg = BenchmarkConfig.from_file(args.run / "config.json")
    for system in args.systems.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            job = args.run / "jobs" / system / f"seed{seed}"
            train = read_trajectories(job / "data" / "train.parquet")
            data = {s: read_trajectories(job / "data" / f"{s}.parquet") for s in SCENARIOS}
            physics = PhysicsModel.load(job / "physics.json")
            ref = {m: _run_scores(job, m) for m in ("physics", "hybrid-no-gate")}
            for m, sc in ref.items():
                print(
                    f"{system} seed {seed} {m} (run): "
                    + "  ".join(f"{s} {sc[s]:.3g}" for s in SCENARIOS),
                    flush=True,
                )
            for width in (float(w) for w in args.widths.split(",")):
                model = WorldModel.hybrid(
                    physics, hidden=cfg.hidden, gate=args.gate, gate_width=width
                )
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model.fit(train, cfg.train_config(seed, "hybrid"))
                scores = {s: evaluate(model, d).metrics["nrmse"] for s, d in data.items()}
                ratio = "  ".join(
                    f"{s} {scores[s]:.3g} ({scores[s] / ref['physics'][s]:.2f}x phys)"
                    for s in SCENARIOS
                )
                print(f"{system} seed {seed} gate {args.gate} width {width:g}: {ratio}", flush=True)


if __name__ == "__main__":
    main()
