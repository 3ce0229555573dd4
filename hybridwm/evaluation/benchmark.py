"""The benchmark grid: systems × model kinds × scenarios × seeds, cached in a run directory.

:func:`benchmark` runs it in three steps: every (system, seed) pair is *prepared* (simulate the
training, evaluation and calibration data, discover the physics), then every (system, seed,
model) job fits one model and evaluates it on every scenario
(:mod:`~hybridwm.evaluation.jobs`), and finally the jobs' results are *collected*
(:mod:`~hybridwm.evaluation.collection`). The jobs run through one executor interface
(:mod:`~hybridwm.evaluation.executors`): in this process, a local process pool, or Ray (an
existing cluster or a local instance). Each job runs in a scratch folder of its worker and
sends its files back; only this process writes the run directory, through atomic writers
(:mod:`~hybridwm.evaluation.pieces`), so workers need no shared file system and a run killed at
any point (``kill -9``) resumes with the unfinished jobs only. :func:`run_grid` runs the grid or
one shard of it (:mod:`~hybridwm.evaluation.shards`, ``--shard k/N``) and logs each job as
skipped (done) or computed; :func:`~hybridwm.evaluation.merging.collect_run` merges shards.

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

import contextlib
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from hybridwm.errors import ConfigError, FormatError, HybridWMError
from hybridwm.evaluation.collection import collect, now
from hybridwm.evaluation.config import (
    MODEL_KINDS,
    PRESETS,
    BenchmarkConfig,
    load_preset,
)
from hybridwm.evaluation.executors import EXECUTORS, check_session, executor_session
from hybridwm.evaluation.jobs import (
    PREPARE_INPUTS,
    finished,
    fit_and_evaluate,
    fit_inputs,
    job_dir,
    prepare,
)
from hybridwm.evaluation.pieces import Piece, Task, read_files, run_task, write_piece
from hybridwm.evaluation.shards import Shard, job_keys
from hybridwm.schemas import read_json

__all__ = [
    "EXECUTORS",
    "MODEL_KINDS",
    "PRESETS",
    "BenchmarkConfig",
    "GridRun",
    "benchmark",
    "check_same_config",
    "load_preset",
    "run_grid",
]

Log = Callable[[str], None]
_LOG = logging.getLogger("hybridwm.benchmark")
_PREPARE, _FIT = "simulate + discover", "fit + evaluate"
#: fields that say how the grid runs, not what it computes: a run may resume with others
RUN_FIELDS = ("workers", "executor")


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


def check_same_config(cfg: BenchmarkConfig, out_dir: Path) -> None:
    """Check that the run directory ``out_dir`` is new or holds a benchmark of ``cfg`` (the
    fields of :data:`RUN_FIELDS`, how the jobs run, may differ).

    Raises:
        ConfigError: ``out_dir`` holds a benchmark with another configuration.
        FormatError: its ``config.json`` cannot be read.
    """
    previous = _previous_config(out_dir / "config.json")
    current = cfg.to_dict()
    changed = sorted(
        k for k in current if k not in RUN_FIELDS and (previous or {}).get(k) != current[k]
    )
    if previous is not None and changed:
        raise ConfigError(
            f"{out_dir} already holds a benchmark with a different configuration (fields "
            f"{changed} differ). Use another --out, or delete {out_dir} to start over."
        )


class GridRun(NamedTuple):
    """What one run of (a shard of) the grid did, by job key (``pendulum/seed0/hybrid``)."""

    skipped: list[str]
    """jobs whose result file was there and read back: done before, not run again"""
    computed: list[str]
    """jobs run (fitted or loaded from the cache, and evaluated) and written now"""


@contextlib.contextmanager
def _progress(
    show: bool, label: str, total: int, log: Log
) -> Iterator[tuple[Callable[[], None], Log]]:
    """``(advance, log)`` for a stage of ``total`` jobs: a progress bar when ``show`` (with
    the log printed above it), else nothing but the log."""
    if not show:
        yield (lambda: None), log
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), transient=False) as bar:
        task = bar.add_task(label, total=total)
        yield (lambda: bar.advance(task)), (lambda line: bar.console.print(line, highlight=False))


def _stage(
    cfg: BenchmarkConfig, out: Path, tasks: list[Task], label: str, progress: bool, log: Log
) -> list[Piece]:
    """Run ``tasks`` through the config's executor and write each piece as it comes back."""
    run = EXECUTORS[cfg.executor]
    device = str(cfg.train_config(cfg.seeds[0], cfg.models[0]).device or "cpu")
    gpus = 1 if label == _FIT and device.startswith("cuda") else 0
    pieces = []
    with _progress(progress, label, len(tasks), log) as (advance, say):
        for piece in run(run_task, [(t,) for t in tasks], cfg.workers, gpus=gpus):
            write_piece(out, piece)
            if label == _FIT:
                say(f"job {piece.name}: computed")
            elif piece.files:
                say(f"data {piece.name}: wrote {len(piece.files)} file(s)")
            pieces.append(piece)
            advance()
    return pieces


def run_grid(
    config: BenchmarkConfig,
    out: str | os.PathLike[str],
    *,
    shard: Shard | None = None,
    address: str | None = None,
    progress: bool = True,
    log: Log | None = None,
) -> GridRun:
    """Run the unfinished jobs of the grid (or of one ``shard`` of it) in ``out``.

    The jobs whose result file ``eval/<model>.json`` reads back are skipped; the others are
    run through the config's executor, each in a scratch folder of its worker, and the driver
    writes what they send back (:mod:`~hybridwm.evaluation.pieces`). A run killed at any
    point (``kill -9``) and started again computes only the jobs that had not finished.

    Args:
        config: the benchmark's config.
        out: the run directory (a directory holding another config is refused).
        shard: run only this part of the grid (:class:`~hybridwm.evaluation.shards.Shard`).
        address: for the Ray executor, the cluster (``"auto"`` or ``"HOST:PORT"``); None:
            a local Ray instance of ``config.workers`` CPUs.
        progress: show progress bars.
        log: called with one line per job (``job <key>: done, skipped`` or ``job <key>:
            computed``) and per prepared (system, seed); default: the ``hybridwm.benchmark``
            logger.

    Raises:
        ConfigError: ``out`` holds a benchmark with another configuration, or ``address``
            names no Ray cluster (or is given for another executor).
        ImportError: the executor is ``"ray"`` and Ray is not installed.
    """
    say = log if log is not None else _LOG.info
    out_dir = Path(out)
    check_session(config.executor, address)
    check_same_config(config, out_dir)
    config.save(out_dir / "config.json")
    keys = job_keys(config)
    mine = keys if shard is None else shard.select(keys)
    skipped = [k for k in mine if finished(out_dir, *k)]
    for key in skipped:
        say(f"job {key}: done, skipped")
    pending = [k for k in mine if k not in skipped]
    if not pending:
        return GridRun([str(k) for k in skipped], [])
    with executor_session(config.executor, config.workers, address):
        pairs = sorted({(k.system, k.seed) for k in pending})
        prep = [
            Task(f"{s}/seed{k}", prepare, config, s, k, (), _inputs(out_dir, s, k, PREPARE_INPUTS))
            for s, k in pairs
        ]
        _stage(config, out_dir, prep, _PREPARE, progress, say)
        fits = [
            Task(
                str(key),
                fit_and_evaluate,
                config,
                key.system,
                key.seed,
                (key.model,),
                _inputs(out_dir, key.system, key.seed, fit_inputs(config, key.model)),
            )
            for key in pending
        ]
        pieces = _stage(config, out_dir, fits, _FIT, progress, say)
    return GridRun([str(k) for k in skipped], [p.name for p in pieces])


def _inputs(out: Path, system: str, seed: int, patterns: tuple[str, ...]) -> dict[str, bytes]:
    return read_files(job_dir(out, system, seed), patterns)


def benchmark(
    config: BenchmarkConfig | str = "quick",
    out: str | os.PathLike[str] = "runs/bench",
    *,
    progress: bool = True,
    address: str | None = None,
    log: Log | None = None,
) -> Path:
    """Run (or resume) the benchmark grid and collect its results in ``out``.

    Render the report afterwards with :func:`hybridwm.reports.render_report` (``out``). To
    split the grid over machines, run :func:`run_grid` with a shard on each and merge them
    with :func:`~hybridwm.evaluation.merging.collect_run`.

    Args:
        config: a BenchmarkConfig or a preset name (``"quick"``, ``"full"``).
        out: the run directory. Jobs whose results exist there are not run again, so an
            interrupted benchmark resumes; a directory holding a different config is refused.
        progress: show a progress bar over jobs.
        address: for the Ray executor, the cluster (``"auto"`` or ``"HOST:PORT"``); None:
            a local Ray instance.
        log: called with one line per job, as in :func:`run_grid`.

    Returns:
        The path of ``results.json``.

    Raises:
        ConfigError: ``out`` holds a benchmark with another configuration.
    """
    cfg = load_preset(config) if isinstance(config, str) else config
    if not isinstance(cfg, BenchmarkConfig):
        raise ConfigError(f"`config` must be a BenchmarkConfig or a preset name. Got {config!r}.")
    started = now()
    run_grid(cfg, out, address=address, progress=progress, log=log)
    return collect(cfg, Path(out), started)
