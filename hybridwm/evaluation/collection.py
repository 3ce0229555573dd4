"""Collect the jobs' results into the run directory's result files.

Reads every job file (``jobs/<system>/seed<k>/eval/<model>.json``) and writes
``results.json`` (:class:`~hybridwm.schemas.RunResults`), ``metrics.parquet``,
``curves.parquet``, ``samples/<system>__<scenario>.parquet`` and ``timings.json``
(:class:`~hybridwm.schemas.Timings`; formats in :mod:`hybridwm.schemas`). Every file is written
atomically, and in the config's order of systems, seeds and models: everything but
``timings.json`` is the same, byte for byte, for two runs of one config on one machine.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import pandas as pd

from hybridwm._io import atomic_path
from hybridwm.evaluation.coefficients import system_entry
from hybridwm.evaluation.config import BenchmarkConfig
from hybridwm.evaluation.jobs import job_dir
from hybridwm.physics import PhysicsModel
from hybridwm.schemas import (
    COST_METRICS,
    FORMAT_VERSION,
    METRIC_COLUMNS,
    TIMINGS_FILE,
    JobResult,
    MetricRow,
    RunResults,
    SampleEpisodes,
    Timings,
    TrainingRow,
)
from hybridwm.systems import get_scenario, get_system

__all__ = ["collect", "now"]

_PACKAGES = ("hybridwm", "torch", "torchdiffeq", "pysindy", "mujoco", "numpy")


def now() -> str:
    """The current UTC time as ISO 8601 text, to the second."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in _PACKAGES:
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:  # pragma: no cover
            out[pkg] = "not installed"
    out["machine"] = f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()}"
    return out


def _scenario_entries(cfg: BenchmarkConfig) -> dict[str, dict[str, str]]:
    """``{system: {scenario: one-line description}}`` for the report's setup."""
    out: dict[str, dict[str, str]] = {}
    for system in cfg.systems:
        base = get_system(system)
        rows = out.setdefault(system, {})
        for sc in ("train", *cfg.scenarios):
            scenario = get_scenario(system, sc)
            changed = {
                k: v
                for k, v in scenario.system_parameters(base).items()
                if v != base.defaults.get(k)
            }
            text = scenario.description
            if changed:
                text += " Parameters: " + ", ".join(f"{k} = {v:g}" for k, v in changed.items())
                text += "."
            rows[sc] = text
        for sc, a in cfg.adapt.items():
            rows[cfg.adapted(sc)] = (
                f"The {sc} episodes again, after every model was recalibrated "
                f"(WorldModel.adapt, parts='auto') on {a.n_trajectories} × "
                f"{a.duration:g} s of the changed system, with the same budget for every kind."
            )
    return out


def _episode_frame(
    values: list[list[float]], names: list[str], t: list[float], source: str, episode: int
) -> pd.DataFrame:
    """One episode in the samples' long format: columns ``episode, t, source`` and one per
    state, from (T, n_x) ``values`` at times (T,) ``t``."""
    df = pd.DataFrame(np.asarray(values, dtype=np.float64), columns=names)
    df.insert(0, "source", source)
    df.insert(0, "t", t)
    df.insert(0, "episode", episode)
    return df


@dataclass
class _Collected:
    """The rows and frames gathered from the job files."""

    metrics: list[MetricRow] = field(default_factory=list)
    training: list[TrainingRow] = field(default_factory=list)
    timings: list[MetricRow] = field(default_factory=list)
    curves: list[pd.DataFrame] = field(default_factory=list)
    samples: dict[tuple[str, str], list[pd.DataFrame]] = field(default_factory=dict)

    def add(self, system: str, seed: int, kind: str, job: JobResult, *, samples: bool) -> None:
        """Add one job's rows and curves (and its sample episodes when ``samples``)."""
        # job files written before `timings` existed hold the cost rows among the metrics
        self.metrics += [r for r in job.metrics if not _is_cost(r)]
        self.timings += [*job.timings, *(r for r in job.metrics if _is_cost(r))]
        self.training += job.training
        for c in job.curves:
            columns = {"system": system, "model": kind, "scenario": c.scenario, "seed": seed}
            self.curves.append(pd.DataFrame({**columns, "t": c.t, "nrmse": c.nrmse}))
        if samples:
            for sc, s in job.samples.items():
                self._add_samples(system, sc, kind, s, job.state_names)

    def _add_samples(
        self, system: str, scenario: str, kind: str, s: SampleEpisodes, names: list[str]
    ) -> None:
        frames = self.samples.setdefault((system, scenario), [])
        # the first model of a (system, scenario) brings the ground truth along
        sources = [(s.truth, "truth"), (s.pred, kind)] if not frames else [(s.pred, kind)]
        for episodes, source in sources:
            for e, values in enumerate(episodes):
                frames.append(_episode_frame(values, names, s.t[e], source, e))


def _write_tables(out: Path, collected: _Collected) -> None:
    table = pd.DataFrame(
        [r.model_dump(include=set(METRIC_COLUMNS)) for r in collected.metrics],
        columns=list(METRIC_COLUMNS),
    )
    table["value"] = table["value"].astype(float)
    with atomic_path(out / "metrics.parquet") as tmp:
        table.to_parquet(tmp, index=False)
    with atomic_path(out / "curves.parquet") as tmp:
        pd.concat(collected.curves, ignore_index=True).to_parquet(tmp, index=False)
    for (system, sc), frames in collected.samples.items():
        with atomic_path(out / "samples" / f"{system}__{sc}.parquet") as tmp:
            pd.concat(frames, ignore_index=True).to_parquet(tmp, index=False)


def _is_cost(row: MetricRow) -> bool:
    """A wall-clock row (fit or adaptation time): it goes to ``timings.json``."""
    return row.metric in COST_METRICS


def collect(cfg: BenchmarkConfig, out: Path, started: str) -> Path:
    """Collect the finished jobs of the run directory ``out`` into its result files.

    Args:
        cfg: the benchmark's config.
        out: the run directory.
        started: when the run started (ISO 8601), recorded in ``timings.json``.

    Returns:
        The path of ``results.json``.
    """
    collected = _Collected()
    systems = {}
    for system in cfg.systems:
        first = job_dir(out, system, cfg.seeds[0])
        systems[system] = system_entry(system, PhysicsModel.load(first / "physics.json"))
        for seed in cfg.seeds:
            for kind in cfg.models:
                job = JobResult.read(job_dir(out, system, seed) / "eval" / f"{kind}.json")
                collected.add(system, seed, kind, job, samples=seed == cfg.seeds[0])
    results = RunResults(
        format_version=FORMAT_VERSION,
        setup={**_versions(), "preset": cfg.preset},
        systems=systems,
        scenarios=_scenario_entries(cfg),
        metrics=collected.metrics,
        training=collected.training,
    )
    path = results.write(out / "results.json")
    _write_tables(out, collected)
    Timings(
        format_version=FORMAT_VERSION,
        started=started,
        finished=now(),
        timings=collected.timings,
    ).write(out / TIMINGS_FILE)
    return path
