"""Read a benchmark run directory: the only input of the reports.

The documents of a run directory (``results.json`` and the others) are defined once in
:mod:`hybridwm.schemas`, which also describes the layout; this module reads them through those
models and the tables (``curves.parquet``, ``samples/*.parquet``) with their column checks.
Only ``results.json`` is required; the other files are used when present and the report says
what is missing.

Models are usually ``learned``, ``physics``, ``hybrid``, ``hybrid-no-pinn`` and scenarios
``id``, ``ood-state``, ``ood-action``, ``ood-params``; other names work too and are shown after
the known ones.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from hybridwm.errors import FormatError
from hybridwm.schemas import (
    COST_METRICS,
    CURVE_COLUMNS,
    FORMAT_VERSION,
    METRIC_COLUMNS,
    SAMPLE_COLUMNS,
    TIMINGS_FILE,
    MetricRow,
    RunResults,
    SystemEntry,
    Timings,
    TrainingRow,
    read_json,
)

__all__ = [
    "FORMAT_VERSION",
    "MODEL_ORDER",
    "SCENARIO_ORDER",
    "RunData",
    "read_run",
]

MODEL_ORDER = (
    "learned",
    "physics",
    "hybrid",
    "hybrid-no-pinn",
    "hybrid-no-gate",
    "hybrid-gate-inputs",
    "hybrid-trained-physics",
    "hybrid-velocity-residual",
)
SCENARIO_ORDER = ("id", "ood-state", "ood-action", "ood-params")


@dataclass
class RunData:
    """Everything a report needs from one run directory.

    Attributes:
        path: the run directory.
        config: the parsed ``config.json`` (``None`` when the file is absent).
        setup: ``results.json``'s ``setup``.
        systems: ``{system: SystemEntry}`` (names, equations, coefficients).
        metrics: one row per metric value, columns ``system, model, scenario, seed, metric,
            value`` (value float; NaN/inf kept).
        costs: the same columns for the wall-clock rows of ``timings.json`` (of older runs:
            ``results.json``'s ``fit`` list and any cost row among its metrics): ``fit_time``
            (scenario ``train``) and ``adapt_time`` (scenario ``<name>-adapted``), in seconds;
            NaN when a cached model was reused. Empty when the run recorded none.
        times: ``started`` and ``finished`` of the run (from ``timings.json``, or from the
            ``setup`` of older runs); empty when unknown.
        training: ``results.json``'s training rows (steps, stop reason, fitted physics).
        scenario_descriptions: ``{system: {scenario: text}}`` (empty when absent).
        curves: error-vs-horizon rows (``system, model, scenario, seed, t, nrmse``) or ``None``.
        samples: ``{(system, scenario): DataFrame}`` of sample episodes (long format).
        models: model names in display order. scenarios: scenario names in display order.
    """

    path: Path
    config: dict[str, Any] | None
    setup: dict[str, Any]
    systems: dict[str, SystemEntry]
    metrics: pd.DataFrame
    costs: pd.DataFrame | None = None
    times: dict[str, str] = field(default_factory=dict)
    training: list[TrainingRow] = field(default_factory=list)
    scenario_descriptions: dict[str, dict[str, str]] = field(default_factory=dict)
    curves: pd.DataFrame | None = None
    samples: dict[tuple[str, str], pd.DataFrame] = field(default_factory=dict)
    models: list[str] = field(default_factory=list)
    scenarios: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The run directory's name."""
        return self.path.resolve().name

    def incomplete_physics(self, system: str) -> bool | None:
        """Whether ``system``'s physics is incomplete, as the run recorded it (runs written
        before the flag existed: True for a ``*-rig`` system, else unknown)."""
        entry = self.systems.get(system)
        flag = None if entry is None else entry.incomplete_physics
        if flag is None and system.endswith("-rig"):
            return True
        return flag


def _ordered(names: list[str], known: tuple[str, ...]) -> list[str]:
    seen = list(dict.fromkeys(names))
    return [n for n in known if n in seen] + [n for n in seen if n not in known]


def metric_frame(rows: list[MetricRow]) -> pd.DataFrame:
    """Metric rows as a table with columns ``system, model, scenario, seed, metric, value``
    (value float64, NaN/inf kept)."""
    columns = list(METRIC_COLUMNS)
    table = pd.DataFrame.from_records([r.model_dump(include=set(columns)) for r in rows])
    table = table.reindex(columns=columns)
    table["value"] = table["value"].astype("float64")
    return table


def _read_table(path: Path, columns: tuple[str, ...], what: str) -> pd.DataFrame:
    try:
        df = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several unrelated types
        raise FormatError(f"Cannot read {what} {str(path)!r} as Parquet: {exc}.") from None
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise FormatError(
            f"{what} {str(path)!r} lacks column(s) {missing}; expected at least "
            f"{list(columns)}. Got {list(df.columns)}."
        )
    return df


def _results_path(path: Path) -> Path:
    if path.is_file():
        raise FormatError(
            f"{str(path)!r} is a file, but a run directory is expected (the folder written by "
            f"`hybridwm benchmark --out DIR` or `hybridwm demo`, holding results.json)."
        )
    if not path.is_dir():
        raise FormatError(
            f"Run directory {str(path)!r} does not exist. Pass the folder written by "
            f"`hybridwm benchmark` (it holds results.json)."
        )
    res_path = path / "results.json"
    if not res_path.is_file():
        raise FormatError(
            f"{str(path)!r} has no results.json, so it is not a finished benchmark run. Point "
            f"to the run folder, or rerun `hybridwm benchmark` if it was interrupted."
        )
    return res_path


def _read_config(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    config = read_json(path)
    if not isinstance(config, dict):
        raise FormatError(f"{str(path)!r} must hold a JSON object.")
    return config


def _read_samples(sample_dir: Path) -> dict[tuple[str, str], pd.DataFrame]:
    samples: dict[tuple[str, str], pd.DataFrame] = {}
    for f in sorted(sample_dir.glob("*.parquet")):
        system, sep, scenario = f.stem.rpartition("__")
        if not sep or not system:
            raise FormatError(
                f"Sample file {str(f)!r} must be named '<system>__<scenario>.parquet'."
            )
        samples[(system, scenario)] = _read_table(f, SAMPLE_COLUMNS, "sample file")
    return samples


def _timings(path: Path, results: RunResults) -> tuple[list[MetricRow], dict[str, str]]:
    """The run's cost rows and its start and end times: from ``timings.json``, or as older
    runs kept them in ``results.json`` (the ``fit`` list, cost rows among the metrics, the
    times in ``setup``)."""
    if (path / TIMINGS_FILE).is_file():
        timings = Timings.read(path / TIMINGS_FILE)
        times = {"started": timings.started, "finished": timings.finished}
        rows = timings.timings
    else:
        times = {k: results.setup.get(k) for k in ("started", "finished")}
        rows = [*results.fit, *(r for r in results.metrics if r.metric in COST_METRICS)]
    return rows, {k: str(v) for k, v in times.items() if v is not None}


def read_run(run_dir: str | os.PathLike[str]) -> RunData:
    """Read and validate a benchmark run directory (format: :mod:`hybridwm.schemas`).

    Args:
        run_dir: the directory that holds ``results.json``.

    Returns:
        The parsed :class:`RunData`.

    Raises:
        FormatError: if the directory or ``results.json`` is missing, a file (``results.json``,
            ``timings.json``, ...) cannot be parsed, or required keys/columns are missing (the
            message names them).
        IncompatibleVersionError: if ``format_version`` is not 1.
    """
    path = Path(run_dir)
    results = RunResults.read(_results_path(path))
    metrics = metric_frame([r for r in results.metrics if r.metric not in COST_METRICS])
    costs, times = _timings(path, results)
    curves_path = path / "curves.parquet"
    return RunData(
        path=path,
        config=_read_config(path / "config.json"),
        setup={k: v for k, v in results.setup.items() if k not in times},
        systems=results.systems,
        metrics=metrics,
        costs=metric_frame(costs),
        times=times,
        training=results.training,
        scenario_descriptions=results.scenarios,
        curves=(
            _read_table(curves_path, CURVE_COLUMNS, "curves table")
            if curves_path.is_file()
            else None
        ),
        samples=_read_samples(path / "samples"),
        models=_ordered(list(metrics["model"]), MODEL_ORDER),
        scenarios=_ordered(list(metrics["scenario"]), SCENARIO_ORDER),
    )
