"""``hybridwm benchmark``, ``report`` and ``demo``: the benchmark grid and its report.

The benchmark writes a run directory; rendering the report from it is a separate step
(:func:`hybridwm.reports.render_report`) that these commands run after the grid.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from hybridwm.cli.entry import console
from hybridwm.cli.flags import build_config
from hybridwm.errors import FormatError
from hybridwm.evaluation import BenchmarkConfig, load_preset
from hybridwm.evaluation import benchmark as run_benchmark
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


def benchmark(
    out: Annotated[Path, typer.Option(help="Run directory (resumes if it exists).")] = Path(
        "runs/bench"
    ),
    preset: Annotated[str, typer.Option(help="Preset: quick or full.")] = "quick",
    config: Annotated[
        Path | None, typer.Option(help="TOML/YAML/JSON BenchmarkConfig instead of a preset.")
    ] = None,
    workers: WorkersOpt = None,
    seeds: Annotated[
        list[int] | None, typer.Option("--seed", help="Seeds (repeatable); overrides the preset.")
    ] = None,
    steps: StepsOpt = None,
    max_time: MaxTimeOpt = None,
    executor: Annotated[str | None, typer.Option(help="local or ray.")] = None,
    report: Annotated[bool, typer.Option(help="Render the report when done.")] = True,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Run the benchmark grid (systems × models × scenarios × seeds) and collect the results."""
    overrides: dict[str, Any] = {"workers": workers, "seeds": seeds or None, "executor": executor}
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if config is not None:
        cfg = build_config(BenchmarkConfig, config, overrides)
    else:
        cfg = load_preset(preset, **overrides)
    _run(cfg, out, (steps, max_time), progress=progress, report=report)


def _run(
    cfg: BenchmarkConfig,
    out: Path,
    budget: tuple[int | None, float | None],
    *,
    progress: bool,
    report: bool,
) -> None:
    """Run the grid of ``cfg`` in ``out`` with the training ``budget`` (optimizer steps, safety
    cap in seconds; each ``None``: the config's), then its report."""
    steps, max_time = budget
    if steps is not None:
        train = {k: v for k, v in cfg.train.items() if k != "epochs"}
        cfg = cfg.replace(train={**train, "steps": steps})
    if max_time is not None:
        cfg = cfg.replace(train={**cfg.train, "max_time": max_time})
    results = run_benchmark(cfg, out, progress=progress)
    console.print(f"Results in [green]{results}[/green]")
    if report:
        paths = render_report(out)
        console.print(f"Report: [green]{paths['html']}[/green] and {paths['markdown']}")


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
