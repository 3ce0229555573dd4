"""The report's tables, each built from a parsed run (:class:`~hybridwm.reports.RunData`) or
its aggregates; every number is formatted by :func:`~hybridwm.reports.summary.fmt`."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from hybridwm.reports.blocks import Cell, Table
from hybridwm.reports.rundir import RunData
from hybridwm.reports.summary import HIGHER_IS_BETTER, aggregate, fmt
from hybridwm.schemas import ADAPTED_SUFFIX, SystemEntry

__all__ = [
    "coefficient_table",
    "cost_table",
    "kv_table",
    "losses_table",
    "metric_table",
    "other_metrics_table",
    "ratio_table",
    "scenario_table",
]

#: the metrics that get a table of their own, with their display names
MAIN_METRICS = {"nrmse": "nRMSE", "vpt": "Valid prediction time"}
NO_VALUE = "–"


def mean_std(mean: float, std: float) -> str:
    """``"mean ± std"`` as the report shows it."""
    return f"{fmt(mean)} ± {fmt(std)}"


def _seeds_note(agg: pd.DataFrame) -> str:
    ns = sorted({int(n) for n in agg["n_seeds"]})
    return f"n = {ns[0]} seeds" if len(ns) == 1 else f"n = {ns[0]}–{ns[-1]} seeds"


def _present(names: list[str], column: pd.Series) -> list[str]:
    """``names`` (display order) that occur in ``column``."""
    seen = set(column)
    return [n for n in names if n in seen]


def _stat_cell(r: Any, bold: bool = False) -> Cell:
    """The ``mean ± std`` cell of an aggregate row, or a dash where there is none."""
    return Cell(NO_VALUE) if r is None else Cell(mean_std(r.mean, r.std), bold)


def metric_table(
    agg: pd.DataFrame, system: str, metric: str, run: RunData, best: dict[tuple[str, str], str]
) -> Table | None:
    """Models × scenarios of one main metric on one system, the best of each column in bold.

    Args:
        agg: the output of :func:`~hybridwm.reports.summary.aggregate`.
        system: the system. metric: ``"nrmse"`` or ``"vpt"``.
        run: the run (display order of models and scenarios).
        best: ``{(system, scenario): model}``, the best model of each cell.
    """
    d = agg[(agg["system"] == system) & (agg["metric"] == metric)]
    if d.empty:
        return None
    scenarios = _present(run.scenarios, d["scenario"])
    cells = {(r.model, r.scenario): r for r in d.itertuples()}
    rows = [
        [Cell(m)]
        + [_stat_cell(cells.get((m, sc)), best.get((system, sc)) == m) for sc in scenarios]
        for m in _present(run.models, d["model"])
    ]
    better = "higher" if metric in HIGHER_IS_BETTER else "lower"
    name = {"nrmse": "nRMSE", "vpt": "Valid prediction time [s]"}.get(metric, metric)
    caption = (
        f"{name} on {system}: mean ± std over seeds ({_seeds_note(d)}); "
        f"{better} is better, best in bold."
    )
    title = f"{MAIN_METRICS.get(metric, metric)} — {system}"
    return Table(["model", *scenarios], rows, caption, title=title, css=metric)


def other_metrics_table(agg: pd.DataFrame, system: str, run: RunData) -> Table | None:
    """Every other metric of one system (diverged episodes, energy drift, ...)."""
    d = agg[(agg["system"] == system) & ~agg["metric"].isin(list(MAIN_METRICS))]
    if d.empty:
        return None
    scenarios = _present(run.scenarios, d["scenario"])
    cells = {(r.metric, r.model, r.scenario): r for r in d.itertuples()}
    rows = [
        [Cell(metric), Cell(m)] + [_stat_cell(cells.get((metric, m, sc))) for sc in scenarios]
        for metric in dict.fromkeys(d["metric"])
        for m in _present(run.models, d[d["metric"] == metric]["model"])
    ]
    return Table(
        ["metric", "model", *scenarios],
        rows,
        f"Other metrics on {system}: mean ± std over seeds ({_seeds_note(d)}).",
        title=f"Other metrics — {system}",
        css="other",
    )


def cost_table(run: RunData) -> Table | None:
    """Wall time of each fit (and adaptation) per system and model, mean ± std over seeds."""
    costs = run.costs
    if costs is None or costs.empty:
        return None
    columns = list(dict.fromkeys(zip(costs["metric"], costs["scenario"], strict=True)))
    columns.sort(key=lambda c: (c[0] != "fit_time", c[1]))
    # NaN marks a model loaded from the cache: its time was not measured
    agg = aggregate(costs.dropna(subset=["value"]))
    stats = {(r.system, r.model, r.metric, r.scenario): r for r in agg.itertuples()}
    rows = [
        [Cell(system), Cell(model)] + [_stat_cell(stats.get((system, model, *c))) for c in columns]
        for system in _present(list(run.systems), costs["system"])
        for model in _present(run.models, costs[costs["system"] == system]["model"])
    ]
    headers = [
        "fit [s]"
        if metric == "fit_time"
        else f"adapt for {scenario.removesuffix(ADAPTED_SUFFIX)} [s]"
        for metric, scenario in columns
    ]
    return Table(
        ["system", "model", *headers],
        rows,
        "Wall time of each training run, mean ± std over seeds ('–': every model of the cell "
        "was loaded from the run's cache, so no time was measured). A physics-only model uses "
        "the discovered equations as they are, so its fit time is only its set-up. Times are "
        "kept in timings.json, apart from results.json, whose numbers do not depend on the "
        "machine's speed.",
    )


def kv_table(mapping: Mapping[str, Any], caption: str) -> Table:
    """Key–value rows; values that are not text are shown as JSON."""
    rows = [
        [Cell(str(k)), Cell(str(v if isinstance(v, str) else json.dumps(v, sort_keys=False)))]
        for k, v in mapping.items()
    ]
    return Table(["key", "value"], rows, caption, css="kv")


def scenario_table(descriptions: Mapping[str, Mapping[str, str]]) -> Table:
    """One row per (system, scenario) with its description."""
    rows = [
        [Cell(system), Cell(sc), Cell(text)]
        for system, scs in descriptions.items()
        for sc, text in scs.items()
    ]
    return Table(
        ["system", "scenario", "what it is"],
        rows,
        "Scenarios: training data and evaluation episodes.",
        css="text",
    )


def losses_table(losses: list[dict[str, Any]]) -> Table:
    """The cells where the hybrid is not the most accurate (``summary["hybrid_losses"]``)."""
    rows = []
    for r in losses:
        ratio = r["hybrid_mean"] / r["best_mean"] if r["best_mean"] else math.inf
        rows.append(
            [
                Cell(r["system"]),
                Cell(r["scenario"]),
                Cell(mean_std(r["hybrid_mean"], r["hybrid_std"])),
                Cell(r["best_model"]),
                Cell(mean_std(r["best_mean"], r["best_std"])),
                Cell(f"{fmt(ratio)}×"),
            ]
        )
    headers = ["system", "scenario", "hybrid nRMSE", "best other model", "its nRMSE"]
    return Table(
        [*headers, "hybrid / best"],
        rows,
        "Cells where the hybrid model is not the most accurate.",
        css="loses",
    )


def ratio_table(ratios: pd.DataFrame, system: str, run: RunData) -> Table:
    """Models × OOD scenarios of one system: mean OOD nRMSE over mean ID nRMSE."""
    d = ratios[ratios["system"] == system]
    scenarios = _present(run.scenarios, d["scenario"])
    cells = {(r.model, r.scenario): r.ratio for r in d.itertuples()}
    rows = [
        [Cell(m)]
        + [Cell(f"{fmt(cells[(m, s)])}×" if (m, s) in cells else NO_VALUE) for s in scenarios]
        for m in _present(run.models, d["model"])
    ]
    return Table(["model", *scenarios], rows, f"OOD/ID nRMSE ratio on {system}.")


def _term_label(eq: str) -> str:
    return eq.split("=")[0].strip()


def coefficient_table(entry: SystemEntry) -> Table | None:
    """The discovered non-zero coefficients of a system, beside their ensemble std, inclusion
    probability and true value where the run recorded them."""
    coef = entry.coefficients or {}
    true = entry.true_coefficients or {}
    if not coef:
        return None
    # (header, values, text where a term has none)
    extra = [
        ("ensemble std", entry.coefficients_std or {}, NO_VALUE),
        ("inclusion probability", entry.inclusion_probability or {}, NO_VALUE),
        ("true", true, "0"),
    ]
    extra = [x for x in extra if x[1]]
    rows = []
    for eq in dict.fromkeys([*coef, *true]):
        for f in dict.fromkeys([*coef.get(eq, {}), *true.get(eq, {})]):
            c = float(coef.get(eq, {}).get(f, 0.0))
            if c == 0.0 and not true.get(eq, {}).get(f):
                continue
            row = [Cell(_term_label(eq)), Cell(f), Cell(fmt(c))]
            for _, values, missing in extra:
                v = values.get(eq, {}).get(f)
                row.append(Cell(missing if v is None else fmt(float(v))))
            rows.append(row)
    cap = "Discovered coefficients (non-zero terms)"
    if entry.coefficients_std:
        cap += "; ± is the std over the SINDy ensemble"
    if entry.inclusion_probability:
        cap += "; inclusion probability is the fraction of ensemble models that keep the term"
    headers = ["equation", "term", "coefficient", *(h for h, _, _ in extra)]
    return Table(headers, rows, cap + ".")
