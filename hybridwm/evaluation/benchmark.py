"""The benchmark grid: systems × model kinds × scenarios × seeds, cached in a run directory.

:func:`benchmark` runs it in three steps: every (system, seed) pair is *prepared* (simulate the
training, evaluation and calibration data, discover the physics), then every (system, seed,
model) job fits one model and evaluates it on every scenario
(:mod:`~hybridwm.evaluation.jobs`), and finally the jobs' results are *collected*
(:mod:`~hybridwm.evaluation.collection`). The jobs run through one executor interface
(:mod:`~hybridwm.evaluation.executors`): in this process, a local process pool, or Ray.

Layout of ``<out>`` (documents defined in :mod:`hybridwm.schemas`)::

    config.json                         the BenchmarkConfig
    results.json, metrics.parquet, curves.parquet, samples/   the collected results
    timings.json                        wall-clock times of the run and of each fit
    jobs/<system>/seed<k>/...           each job's data, physics, models and evaluation

Adaptation (``BenchmarkConfig.adapt``): for each scenario named there, the preparation also
simulates a short calibration record of that scenario's system (same shifted parameters, other
random draws), and each model is evaluated twice on the scenario: zero-shot (as every scenario)
and after ``WorldModel.adapt(calibration, parts="auto")`` with the same calibration data and
training budget for every kind, under the scenario name ``<scenario>-adapted``.

The same config and seeds give the same ``results.json``, byte for byte, on a loaded machine
or an idle one, as long as training budgets are counted in optimizer steps (``train.steps``
or ``train.epochs``) and the ``max_time`` safety cap does not stop a run: the training rows of
``results.json`` say when it did. Wall-clock times live in ``timings.json`` only.

Evaluation writes run directories only; the report is rendered from one by
:func:`hybridwm.reports.render_report` (the CLI's ``benchmark``, ``report`` and ``demo``
commands call it).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from hybridwm.errors import ConfigError, FormatError, HybridWMError
from hybridwm.evaluation.collection import collect, now
from hybridwm.evaluation.config import (
    MODEL_KINDS,
    PRESETS,
    BenchmarkConfig,
    load_preset,
)
from hybridwm.evaluation.executors import EXECUTORS, Executor
from hybridwm.evaluation.jobs import fit_and_evaluate, prepare
from hybridwm.schemas import read_json

__all__ = ["EXECUTORS", "MODEL_KINDS", "PRESETS", "BenchmarkConfig", "benchmark", "load_preset"]


def _previous_config(path: Path) -> dict[str, Any] | None:
    """The config a run directory was started with, as :meth:`BenchmarkConfig.to_dict` writes
    it today (fields added since take their defaults), or None for a new directory."""
    if not path.exists():
        return None
    try:
        previous = read_json(path)
    except FormatError as exc:
        raise FormatError(f"{exc} Remove it or choose another --out.") from None
    if not isinstance(previous, dict):
        return {"": previous}  # differs from every config
    previous = {**BenchmarkConfig().to_dict(), **previous}
    try:
        return BenchmarkConfig.from_dict(previous).to_dict()
    except HybridWMError:  # not valid any more: compare it as it is
        return previous


def _check_same_config(cfg: BenchmarkConfig, out_dir: Path) -> None:
    previous = _previous_config(out_dir / "config.json")
    current = cfg.to_dict()
    if previous is not None and previous != current:
        changed = sorted(k for k in current if previous.get(k) != current[k])
        raise ConfigError(
            f"{out_dir} already holds a benchmark with a different configuration (fields "
            f"{changed} differ). Use another --out, or delete {out_dir} to start over."
        )


def _run(
    run: Executor,
    fn: Callable[..., Any],
    jobs: Sequence[tuple[Any, ...]],
    workers: int,
    label: str,
    progress: bool,
) -> None:
    """Run ``jobs`` to the end, with a progress bar over them when ``progress``."""
    if not progress:
        for _ in run(fn, jobs, workers):
            pass
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), transient=False) as bar:
        task = bar.add_task(label, total=len(jobs))
        for _ in run(fn, jobs, workers):
            bar.advance(task)


def benchmark(
    config: BenchmarkConfig | str = "quick",
    out: str | os.PathLike[str] = "runs/bench",
    *,
    progress: bool = True,
) -> Path:
    """Run (or resume) the benchmark grid and collect its results in ``out``.

    Render the report afterwards with :func:`hybridwm.reports.render_report` (``out``).

    Args:
        config: a BenchmarkConfig or a preset name (``"quick"``, ``"full"``).
        out: the run directory. Steps whose files exist there are not run again, so an
            interrupted benchmark resumes; a directory holding a different config is refused.
        progress: show a progress bar over jobs.

    Returns:
        The path of ``results.json``.

    Raises:
        ConfigError: ``out`` holds a benchmark with another configuration.
    """
    cfg = load_preset(config) if isinstance(config, str) else config
    if not isinstance(cfg, BenchmarkConfig):
        raise ConfigError(f"`config` must be a BenchmarkConfig or a preset name. Got {config!r}.")
    out_dir = Path(out)
    _check_same_config(cfg, out_dir)
    cfg.save(out_dir / "config.json")
    started = now()
    run = EXECUTORS[cfg.executor]
    pairs = [(cfg, str(out_dir), s, k) for s in cfg.systems for k in cfg.seeds]
    model_jobs = [(*pair, m) for pair in pairs for m in cfg.models]
    _run(run, prepare, pairs, cfg.workers, "simulate + discover", progress)
    _run(run, fit_and_evaluate, model_jobs, cfg.workers, "fit + evaluate", progress)
    return collect(cfg, out_dir, started)
