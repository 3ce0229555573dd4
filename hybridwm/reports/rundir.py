"""Read a benchmark run directory: the only input of the reports.

Format (``format_version`` 1). Only ``results.json`` is required; the other files are used when
present and the report says what is missing.

``<run>/config.json``
    The ``BenchmarkConfig`` as a JSON object, e.g. ``{"preset": "quick", "systems": [...],
    "models": [...], "scenarios": [...], "seeds": [...], "train": {...budgets...}}``. Shown
    as-is in the report's setup section.

``<run>/results.json``
    A JSON object with the keys:

    * ``format_version``: the integer ``1``.
    * ``setup``: object; the report shows every key. The runner writes ``hybridwm``,
      ``python``, ``torch``, ``mujoco``, ``pysindy``, ``machine``, ``started``, ``finished``.
    * ``systems``: ``{system: {...}}`` with, per system, the required keys ``state_names``
      (list of str), ``action_names`` (list of str), ``equations`` (list of readable str such
      as ``"d(omega)/dt = -9.81 sin(theta)"``) and the optional keys ``equations_latex`` (list
      of str), ``coefficients`` (``{equation: {feature: value}}``), ``coefficients_std``
      (same layout, ensemble std), ``inclusion_probability`` (same layout, in [0, 1]) and
      ``true_coefficients`` (same layout, the ground truth where known in closed form).
    * ``metrics``: list of rows ``{"system", "model", "scenario", "seed", "metric",
      "value"}``. ``metric`` is e.g. ``"nrmse"``, ``"vpt"``, ``"diverged"``,
      ``"energy_drift"``; ``value`` is a number, ``null`` (NaN) or the strings ``"inf"`` /
      ``"-inf"`` (what :func:`hybridwm._io.to_jsonable` writes for non-finite floats).
      Every ``system`` must be a key of ``systems``.
      A scenario named ``<name>-adapted`` holds the errors on scenario ``<name>`` after the
      model was recalibrated on a short record of that scenario's system.
    * ``scenarios`` (optional): ``{system: {scenario: description}}``, one line each, shown in
      the report's setup.
    * ``fit`` (optional): cost rows in the same layout, ``metric`` ``"fit_time"`` (scenario
      ``"train"``) or ``"adapt_time"`` (scenario ``"<name>-adapted"``), in seconds.

``<run>/metrics.parquet``
    The same rows as a table (columns ``system, model, scenario, seed, metric, value``). The
    report reads the numbers from ``results.json``; this file is for users' own analysis.

``<run>/curves.parquet``
    Error versus horizon, columns ``system, model, scenario, seed, t, nrmse``.

``<run>/samples/<system>__<scenario>.parquet``
    Sample episodes for the rollout plots, long format: columns ``episode`` (int), ``t``,
    ``source`` (``"truth"`` or a model name) and one column per state (named as in
    ``state_names``).

Models are usually ``learned``, ``physics``, ``hybrid``, ``hybrid-no-pinn`` and scenarios
``id``, ``ood-state``, ``ood-action``, ``ood-params``; other names work too and are shown after
the known ones.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from hybridwm.errors import FormatError, IncompatibleVersionError

__all__ = [
    "FORMAT_VERSION",
    "MODEL_ORDER",
    "SCENARIO_ORDER",
    "RunData",
    "read_run",
]

FORMAT_VERSION = 1
MODEL_ORDER = ("learned", "physics", "hybrid", "hybrid-no-pinn")
SCENARIO_ORDER = ("id", "ood-state", "ood-action", "ood-params")
METRIC_COLUMNS = ("system", "model", "scenario", "seed", "metric", "value")
CURVE_COLUMNS = ("system", "model", "scenario", "seed", "t", "nrmse")
SAMPLE_COLUMNS = ("episode", "t", "source")
_SYSTEM_KEYS = ("state_names", "action_names", "equations")
_RESULT_KEYS = ("format_version", "setup", "systems", "metrics")


@dataclass
class RunData:
    """Everything a report needs from one run directory.

    Attributes:
        path: the run directory.
        config: the parsed ``config.json`` (``None`` when the file is absent).
        setup: ``results["setup"]``.
        systems: ``results["systems"]`` (per-system names, equations, coefficients).
        metrics: one row per metric value, columns ``system, model, scenario, seed, metric,
            value`` (value float; NaN/inf kept).
        scenario_descriptions: ``results["scenarios"]``, ``{system: {scenario: text}}`` (empty
            when absent).
        costs: the same columns for the cost rows of ``results["fit"]``: ``fit_time`` (scenario
            ``train``) and ``adapt_time`` (scenario ``<name>-adapted``), in seconds; NaN when a
            cached model was reused. Empty when results.json has no ``fit`` list.
        curves: error-vs-horizon rows (``system, model, scenario, seed, t, nrmse``) or ``None``.
        samples: ``{(system, scenario): DataFrame}`` of sample episodes (long format).
        models: model names in display order. scenarios: scenario names in display order.
    """

    path: Path
    config: dict[str, Any] | None
    setup: dict[str, Any]
    systems: dict[str, dict[str, Any]]
    metrics: pd.DataFrame
    costs: pd.DataFrame | None = None
    scenario_descriptions: dict[str, dict[str, str]] = field(default_factory=dict)
    curves: pd.DataFrame | None = None
    samples: dict[tuple[str, str], pd.DataFrame] = field(default_factory=dict)
    models: list[str] = field(default_factory=list)
    scenarios: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The run directory's name."""
        return self.path.resolve().name


def _ordered(names: list[str], known: tuple[str, ...]) -> list[str]:
    seen = list(dict.fromkeys(names))
    return [n for n in known if n in seen] + [n for n in seen if n not in known]


def _to_float(value: Any, where: str) -> float:
    if value is None:
        return math.nan
    if isinstance(value, str) and value in ("inf", "-inf", "nan"):
        return float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FormatError(
            f"{where}: `value` must be a number, null, 'inf' or '-inf'. Got {value!r}."
        )
    return float(value)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise FormatError(f"{str(path)!r} is not valid JSON: {exc}.") from None


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


def _check_system(name: str, info: Any, path: Path) -> None:
    if not isinstance(info, dict):
        raise FormatError(f"{str(path)!r}: systems[{name!r}] must be an object.")
    missing = [k for k in _SYSTEM_KEYS if k not in info]
    if missing:
        raise FormatError(
            f"{str(path)!r}: systems[{name!r}] lacks key(s) {missing}; each system needs "
            f"{list(_SYSTEM_KEYS)} (optional: equations_latex, coefficients, coefficients_std, "
            f"inclusion_probability, true_coefficients)."
        )
    for k in _SYSTEM_KEYS:
        if not isinstance(info[k], list):
            raise FormatError(f"{str(path)!r}: systems[{name!r}][{k!r}] must be a list.")


def _metric_rows(rows: Any, key: str, res_path: Path, systems: dict[str, Any]) -> pd.DataFrame:
    """Validate the rows of ``results[key]`` and return them as a metric table."""
    if not isinstance(rows, list):
        raise FormatError(f"{str(res_path)!r}: `{key}` must be a list of rows.")
    records = []
    for i, row in enumerate(rows):
        where = f"{str(res_path)!r} {key}[{i}]"
        if not isinstance(row, dict):
            raise FormatError(f"{where} must be an object.")
        lack = [k for k in METRIC_COLUMNS if k not in row]
        if lack:
            raise FormatError(
                f"{where} lacks key(s) {lack}; each row needs {list(METRIC_COLUMNS)}."
            )
        if row["system"] not in systems:
            raise FormatError(
                f"{where} names system {row['system']!r}, which is not in `systems` "
                f"{list(systems)}."
            )
        records.append(
            {
                "system": str(row["system"]),
                "model": str(row["model"]),
                "scenario": str(row["scenario"]),
                "seed": int(row["seed"]),
                "metric": str(row["metric"]),
                "value": _to_float(row["value"], where),
            }
        )
    table = pd.DataFrame.from_records(records, columns=list(METRIC_COLUMNS))
    table["value"] = table["value"].astype("float64")
    return table


def read_run(run_dir: str | os.PathLike[str]) -> RunData:
    """Read and validate a benchmark run directory (format in this module's docstring).

    Args:
        run_dir: the directory that holds ``results.json``.

    Returns:
        The parsed :class:`RunData`.

    Raises:
        FormatError: if the directory or ``results.json`` is missing, a file cannot be parsed,
            or required keys/columns are missing (the message names them).
        IncompatibleVersionError: if ``format_version`` is not 1.
    """
    path = Path(run_dir)
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
    results = _read_json(res_path)
    if not isinstance(results, dict):
        raise FormatError(f"{str(res_path)!r} must hold a JSON object at the top level.")
    missing = [k for k in _RESULT_KEYS if k not in results]
    if missing:
        raise FormatError(
            f"{str(res_path)!r} lacks key(s) {missing}; a results.json needs {list(_RESULT_KEYS)}."
        )
    if results["format_version"] != FORMAT_VERSION:
        raise IncompatibleVersionError(
            f"{str(res_path)!r} has format_version {results['format_version']!r}; this "
            f"hybridwm reads format_version {FORMAT_VERSION}. Re-render with the hybridwm "
            f"version that wrote the run, or rerun the benchmark."
        )
    setup, systems, rows = results["setup"], results["systems"], results["metrics"]
    if not isinstance(setup, dict):
        raise FormatError(f"{str(res_path)!r}: `setup` must be an object.")
    if not isinstance(systems, dict):
        raise FormatError(f"{str(res_path)!r}: `systems` must be an object keyed by system.")
    for name, info in systems.items():
        _check_system(name, info, res_path)
    metrics = _metric_rows(rows, "metrics", res_path, systems)
    costs = _metric_rows(results.get("fit", []), "fit", res_path, systems)
    descriptions = results.get("scenarios", {})
    if not isinstance(descriptions, dict) or not all(
        isinstance(v, dict) and all(isinstance(t, str) for t in v.values())
        for v in descriptions.values()
    ):
        raise FormatError(
            f"{str(res_path)!r}: `scenarios` must map each system to {{scenario: description}} "
            f"with string descriptions."
        )

    config = None
    if (path / "config.json").is_file():
        config = _read_json(path / "config.json")
        if not isinstance(config, dict):
            raise FormatError(f"{str(path / 'config.json')!r} must hold a JSON object.")

    curves = None
    if (path / "curves.parquet").is_file():
        curves = _read_table(path / "curves.parquet", CURVE_COLUMNS, "curves table")

    samples: dict[tuple[str, str], pd.DataFrame] = {}
    sample_dir = path / "samples"
    if sample_dir.is_dir():
        for f in sorted(sample_dir.glob("*.parquet")):
            system, sep, scenario = f.stem.rpartition("__")
            if not sep or not system:
                raise FormatError(
                    f"Sample file {str(f)!r} must be named '<system>__<scenario>.parquet'."
                )
            samples[(system, scenario)] = _read_table(f, SAMPLE_COLUMNS, "sample file")

    models = _ordered(list(metrics["model"]), MODEL_ORDER)
    scenarios = _ordered(list(metrics["scenario"]), SCENARIO_ORDER)
    return RunData(
        path=path,
        config=config,
        setup=setup,
        systems=systems,
        metrics=metrics,
        costs=costs,
        scenario_descriptions=descriptions,
        curves=curves,
        samples=samples,
        models=models,
        scenarios=scenarios,
    )
