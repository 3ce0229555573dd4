"""EMPS under the official protocol: recipes fitted through `hybridwm fit`, scored by
`hybridwm.evaluation.official_score.score`, printed beside the published rows.

    python benchmarks/bench_emps.py [--models physics,hybrid,learned] [--seeds 0,1,2]
                                    [--out runs/emps]

Each recipe is `hybridwm fit` with `benchmarks/emps_<model>.toml` (the TrainConfig; its header
gives the model flags) on the estimation half, validated on the validation half; the budget is
the TOML's `steps`. `physics-published` is the prior with the published IDIM-LS parameters
frozen (only the velocity encoder trains); `hybrid-published` is the same frozen prior with
the residual (encoder first, then residual and encoder). Writes `<out>/official.json` and
`rollouts.npz`, and from them the report section `<out>/report/datasets.md` with its figures
(`hybridwm.reports.datasets`). Wall times are measured on this machine, under its load.
"""

from __future__ import annotations

import argparse
import datetime
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from hybridwm.datasets import MeasuredDataset, load_dataset
from hybridwm.datasets.results import OfficialResults, OfficialRun, PublishedEntry
from hybridwm.evaluation.official_score import score
from hybridwm.models import WorldModel
from hybridwm.reports.datasets import render_datasets

ROOT = Path(__file__).resolve().parents[1]
HWM = str(Path(sys.executable).with_name("hybridwm"))

EMPS_RECIPES = {
    "physics-published": ["--model", "physics", "--prior", "benchmarks/emps_prior.toml",
                          "--no-trainable-physics", "--encoder-window", "20"],
    "physics": ["--model", "physics", "--prior", "benchmarks/emps_prior.toml",
                "--encoder-window", "20"],
    "hybrid": ["--model", "hybrid", "--prior", "benchmarks/emps_prior.toml", "--hidden",
               "32,32", "--encoder-window", "20"],
    "hybrid-published": ["--model", "hybrid", "--prior", "benchmarks/emps_prior.toml",
                         "--no-trainable-physics", "--hidden", "32,32", "--encoder-window", "20"],
    "learned": ["--model", "learned", "--latent-dim", "1", "--hidden", "64,64",
                "--encoder-window", "20"],
}  # fmt: skip


def fit_recipe(
    name: str, flags: list[str], config: str, data: Path, out: Path, seed: int
) -> tuple[str, float]:
    """Run `hybridwm fit` for one recipe and seed; returns the command and its wall time."""
    cmd = [HWM, "fit", "--data", str(data / "estimation.parquet"), "--validation",
           str(data / "validation.parquet"), "--config", config, *flags, "--seed", str(seed),
           "--out", str(out)]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return shlex.join(cmd), time.perf_counter() - start


def run_one(
    dataset: MeasuredDataset,
    name: str,
    flags: list[str],
    config: str,
    out: Path,
    seed: int,
    rollouts: dict[str, np.ndarray],
) -> OfficialRun:
    """Fit one recipe, score it, keep seed 0's rollouts."""
    folder = out / f"{name}-seed{seed}"
    command, fit_s = fit_recipe(name, flags, config, out / "data", folder, seed)
    model = WorldModel.load(folder)
    start = time.perf_counter()
    result = score(model, dataset)
    score_s = time.perf_counter() - start
    params = {}
    if model.kind != "learned":
        params = {k: float(p.value) for k, p in model.physics_.parameters.items() if not p.fixed}
    if seed == 0:
        rollouts.update({f"{name}/{s}": p for s, p in result.predictions.items()})
    rmse = {k: (v if np.isfinite(v) else None) for k, v in result.rmse.items()}
    print(f"{name} seed {seed}: {rmse} {dataset.score_unit}; fit {fit_s:.0f} s, "
          f"score {score_s:.0f} s, {params}", flush=True)  # fmt: skip
    return OfficialRun(model=name, seed=seed, rmse=rmse, steps=model.history_.steps,
                       fit_seconds=fit_s, score_seconds=score_s, parameters=params,
                       command=command)  # fmt: skip


def table(dataset: MeasuredDataset, runs: list[OfficialRun]) -> str:
    """Markdown: our models (mean over seeds, min-max) above the published rows."""
    head = (
        f"| model | {' | '.join(dataset.tests)} | source |\n|---|{'---|' * len(dataset.tests)}---|"
    )
    lines = [head]
    for name in dict.fromkeys(r.model for r in runs):
        mine = [r for r in runs if r.model == name]
        cells = []
        for split in dataset.tests:
            vals = [r.rmse[split] for r in mine]
            if any(v is None for v in vals):
                cells.append("diverged")
                continue
            cells.append(
                f"{np.mean(vals):.3g}"
                + (f" ({min(vals):.3g}-{max(vals):.3g})" if len(vals) > 1 else "")
            )
        lines.append(
            f"| **{name}** ({len(mine)} seed{'s' * (len(mine) > 1)}) | {' | '.join(cells)} | this run |"
        )
    for row in dataset.published:
        cells = [f"{row.scores[s]:.3g}" if s in row.scores else "" for s in dataset.tests]
        lines.append(f"| {row.method} | {' | '.join(cells)} | {row.source} ({row.status}) |")
    return "\n".join(lines)


def run_benchmark(
    dataset: MeasuredDataset,
    recipes: dict[str, list[str]],
    models: list[str],
    seeds: list[int],
    out: Path,
) -> OfficialResults:
    """Export the splits, fit and score every model and seed, write official.json."""
    torch.set_num_threads(1)
    subprocess.run([sys.executable, "-m", "hybridwm.datasets", "export", dataset.name, "--out",
                    str(out / "data")], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)  # fmt: skip
    rollouts: dict[str, np.ndarray] = {}
    for split in dataset.tests:
        rollouts[f"measured/{split}"] = dataset.split(split)[0].x[:, 0]
        rollouts[f"input/{split}"] = dataset.split(split)[0].u[:, 0]
    runs = []
    for name in models:
        config = f"benchmarks/{dataset.name}_{name.removesuffix('-published')}.toml"
        for seed in seeds:
            runs.append(run_one(dataset, name, recipes[name], config, out, seed, rollouts))
    np.savez_compressed(out / "rollouts.npz", **rollouts)
    train_val = dataset.split("train_val")[0].x
    published = [PublishedEntry(method=r.method, scores=dict(r.scores), source=r.source,
                                status=r.status, note=r.note) for r in dataset.published]  # fmt: skip
    doc = OfficialResults(dataset=dataset.name, unit=dataset.score_unit, n_init=dataset.n_init,
                          tests=list(dataset.tests), published=published, runs=runs,
                          train_range=[float(train_val.min()), float(train_val.max())],
                          date=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"))  # fmt: skip
    doc.write(out / "official.json")
    print(table(dataset, runs))
    report = render_datasets([out], out / "report")
    print(f"report section: {report}")
    return doc


def main(name: str, recipes: dict[str, list[str]], default_models: str, doc: str | None) -> None:
    """Command line of bench_emps.py and bench_silverbox.py (``doc``: the script's docstring)."""
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", default=default_models)
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / name)
    args = parser.parse_args()
    models = args.models.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    run_benchmark(load_dataset(name), recipes, models, seeds, args.out.resolve())


if __name__ == "__main__":
    main("emps", EMPS_RECIPES, "physics-published,physics,hybrid,learned", __doc__)
