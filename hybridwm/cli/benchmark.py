"""``hybridwm benchmark``, ``report`` and ``demo``: the benchmark grid and its report.

The benchmark writes a run directory; rendering the report from it is a separate step
(:func:`hybridwm.reports.render_report`) that these commands run after the grid.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, NamedTuple

import typer

from hybridwm.cli.entry import console
from hybridwm.cli.flags import build_config
from hybridwm.cli.rollout import checked_device
from hybridwm.errors import ConfigError, FormatError
from hybridwm.evaluation import BenchmarkConfig, load_preset
from hybridwm.evaluation import benchmark as run_benchmark
from hybridwm.evaluation.benchmark import run_grid
from hybridwm.evaluation.merging import collect_run
from hybridwm.evaluation.shards import Shard
from hybridwm.reports import render_report

__all__ = ["benchmark", "demo", "report"]

WorkersOpt = Annotated[int | None, typer.Option(help="Parallel jobs.")]
MaxTimeOpt = Annotated[
    float | None,
    typer.Option(
        help="Wall-clock safety cap per model in seconds (the budget is --steps); the report "
        "says when it was hit."
    ),
]
StepsOpt = Annotated[
    int | None,
    typer.Option(
        min=1, help="Training budget per model in optimizer steps (overrides the preset's)."
    ),
]


ShardOpt = Annotated[
    str | None,
    typer.Option(
        help="Run only part k of N of the grid (k/N, e.g. 2/4; for SLURM arrays or parallel); "
        "merge the shards with --collect."
    ),
]
AddressOpt = Annotated[
    str | None,
    typer.Option(
        help="Ray cluster for --executor ray: auto or HOST:PORT of `ray start --head` "
        "(default: a local Ray instance of --workers CPUs)."
    ),
]
CollectOpt = Annotated[
    bool,
    typer.Option(
        "--collect",
        help="Merge finished shards (--out, and each --from DIR) into --out and collect "
        "results.json; runs no job.",
    ),
]
FromOpt = Annotated[
    list[Path] | None,
    typer.Option("--from", help="A shard's run directory to merge with --collect (repeatable)."),
]
DeviceOpt = Annotated[
    str | None,
    typer.Option(help="Torch device of every model: cpu, cuda, cuda:1, ... (default: cpu)."),
]


def benchmark(
    out: Annotated[Path, typer.Option(help="Run directory (resumes if it exists).")] = Path(
        "runs/bench"
    ),
    preset: Annotated[str, typer.Option(help="Preset: quick, full or realistic.")] = "quick",
    config: Annotated[
        Path | None, typer.Option(help="TOML/YAML/JSON BenchmarkConfig instead of a preset.")
    ] = None,
    workers: WorkersOpt = None,
    seeds: Annotated[
        list[int] | None, typer.Option("--seed", help="Seeds (repeatable); overrides the preset.")
    ] = None,
    steps: StepsOpt = None,
    max_time: MaxTimeOpt = None,
    executor: Annotated[str | None, typer.Option(help="local, ray or serial.")] = None,
    address: AddressOpt = None,
    device: DeviceOpt = None,
    shard: ShardOpt = None,
    collect: CollectOpt = False,
    sources: FromOpt = None,
    report: Annotated[bool, typer.Option(help="Render the report when done.")] = True,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Run the benchmark grid (systems × models × scenarios × seeds) and collect the results.

    Finished jobs are skipped, so a run stopped at any point (even by kill -9) continues where
    it stopped; the log names each job skipped as done and each job computed.
    """
    if collect:
        _collect(out, sources or [], report=report)
        return
    if sources:
        raise ConfigError("--from DIR merges shards and goes with --collect. Add --collect.")
    overrides: dict[str, Any] = {"workers": workers, "seeds": seeds or None, "executor": executor}
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if config is not None:
        cfg = build_config(BenchmarkConfig, config, overrides)
    else:
        cfg = load_preset(preset, **overrides)
    cfg = _with_device(cfg, device)
    where = Where(address, Shard.parse(shard) if shard is not None else None)
    _run(cfg, out, (steps, max_time), where, progress=progress, report=report)


class Where(NamedTuple):
    """Where the jobs run: the Ray cluster's ``address`` and the ``shard`` of the grid."""

    address: str | None = None
    shard: Shard | None = None


def _with_device(cfg: BenchmarkConfig, device: str | None) -> BenchmarkConfig:
    """``cfg`` training every model on ``device`` (``None``: as configured)."""
    if device is None:
        return cfg
    return cfg.replace(train={**cfg.train, "device": checked_device(device)})


def _collect(out: Path, sources: list[Path], *, report: bool) -> None:
    """Merge the shards ``sources`` into ``out``, collect the results and (``report``) render."""
    _done(collect_run(out, sources), out, report=report)


def _done(results: Path, out: Path, *, report: bool) -> None:
    """Say where the results are and render the report of ``out`` when ``report``."""
    console.print(f"Results in [green]{results}[/green]")
    if report:
        paths = render_report(out)
        console.print(f"Report: [green]{paths['html']}[/green] and {paths['markdown']}")


def _log(line: str) -> None:
    console.print(line, highlight=False, soft_wrap=True, markup=False)


def _run(
    cfg: BenchmarkConfig,
    out: Path,
    budget: tuple[int | None, float | None],
    where: Where = Where(),
    *,
    progress: bool,
    report: bool,
) -> None:
    """Run the grid of ``cfg`` (or ``where.shard`` of it, on ``where.address``) in ``out``
    with the training ``budget`` (optimizer steps, safety cap in seconds; each ``None``: the
    config's), then its report (not for a shard: ``--collect`` merges the shards first)."""
    steps, max_time = budget
    if steps is not None:
        train = {k: v for k, v in cfg.train.items() if k != "epochs"}
        cfg = cfg.replace(train={**train, "steps": steps})
    if max_time is not None:
        cfg = cfg.replace(train={**cfg.train, "max_time": max_time})
    if where.shard is not None:
        done = run_grid(
            cfg, out, shard=where.shard, address=where.address, progress=progress, log=_log
        )
        console.print(
            f"Shard {where.shard}: {len(done.computed)} job(s) computed, {len(done.skipped)} "
            f"skipped as done, in [green]{out}[/green]. When every shard is done: "
            f"`hybridwm benchmark --collect --out {out}` (add --from DIR for each shard that "
            f"wrote another directory).",
            highlight=False,
        )
        return
    results = run_benchmark(cfg, out, progress=progress, address=where.address, log=_log)
    _done(results, out, report=report)


def report(
    run_dir: Annotated[Path, typer.Argument(help="A benchmark run directory.")],
    out_dir: Annotated[
        Path | None, typer.Option(help="Where to write the report (default: RUN_DIR).")
    ] = None,
) -> None:
    """Render report.html, report.md and summary.json from a benchmark run directory."""
    if run_dir.is_file():
        raise FormatError(
            f"RUN_DIR {str(run_dir)!r} is a file, but `hybridwm report` expects a run directory "
            f"(the folder written by `hybridwm benchmark --out DIR`, holding results.json). "
            f"Pass that folder, or make one with `hybridwm benchmark --out DIR` (or "
            f"`hybridwm demo`)."
        )
    paths = render_report(run_dir, out_dir=out_dir)
    for key, path in paths.items():
        console.print(f"{key}: [green]{path}[/green]")


def demo(
    out: Annotated[Path, typer.Option(help="Run directory of the demo.")] = Path("runs/demo"),
    workers: WorkersOpt = None,
    steps: StepsOpt = None,
    max_time: MaxTimeOpt = None,
) -> None:
    """Run the quick benchmark end to end (simulate, discover, fit, evaluate) and its report."""
    overrides = {"workers": workers} if workers is not None else {}
    cfg = load_preset("quick", **overrides)
    console.rule(f"[bold]hybridwm demo[/bold]: quick benchmark on {', '.join(cfg.systems)}")
    _run(cfg, out, (steps, max_time), progress=True, report=True)
    summary = json.loads((out / "summary.json").read_text())
    for line in summary.get("findings", []):
        console.print(f"• {line}", highlight=False)
    console.print(f"\nOpen the report: [bold green]{(out / 'report.html').resolve()}[/bold green]")
