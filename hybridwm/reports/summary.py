"""Aggregate a run's metric rows: mean ± std over seeds, best models, OOD/ID ratios, findings.

Conventions:
    * ``std`` is the sample standard deviation over seeds (ddof=1), and 0 with one seed.
    * A NaN or inf value (a diverged rollout) is kept: the mean of a cell with one is NaN/inf.
      When ranking models, a non-finite mean counts as the worst possible value.
    * Lower is better for every metric except ``vpt`` (valid prediction time).
    * Numbers are shown everywhere with :func:`fmt` (``f"{v:.3g}"``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from hybridwm.reports.rundir import RunData
from hybridwm.schemas import ADAPTED_SUFFIX, FORMAT_VERSION, Summary

__all__ = [
    "HIGHER_IS_BETTER",
    "aggregate",
    "best_models",
    "fmt",
    "hybrid_losses",
    "ood_id_ratios",
    "summarize",
]

HIGHER_IS_BETTER = frozenset({"vpt"})
HYBRID = "hybrid"
ID_SCENARIO = "id"


def fmt(value: float | None) -> str:
    """Format a number as the report shows it: three significant digits (``f"{v:.3g}"``)."""
    if value is None:
        return "nan"
    return f"{value:.3g}"


def aggregate(metrics: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over seeds of every (system, model, scenario, metric) cell.

    Args:
        metrics: rows with columns ``system, model, scenario, seed, metric, value``.

    Returns:
        DataFrame with columns ``system, model, scenario, metric, mean, std, n_seeds``.
        NaN/inf values are not skipped: they make the cell's mean NaN/inf.
    """
    rows = []
    keys = ["system", "model", "scenario", "metric"]
    for key, grp in metrics.groupby(keys, sort=False):
        v = grp["value"].to_numpy(dtype=np.float64)
        with np.errstate(invalid="ignore", over="ignore"):
            mean = float(np.mean(v))
            std = float(np.std(v, ddof=1)) if len(v) > 1 else 0.0
        rows.append(dict(zip(keys, key, strict=True), mean=mean, std=std, n_seeds=len(v)))
    return pd.DataFrame(rows, columns=[*keys, "mean", "std", "n_seeds"])


def _rank_value(mean: float, metric: str) -> float:
    """A value where smaller is better and non-finite is worst."""
    if not math.isfinite(mean):
        return math.inf
    return -mean if metric in HIGHER_IS_BETTER else mean


def best_models(agg: pd.DataFrame, metric: str, models: list[str]) -> dict[tuple[str, str], str]:
    """The best model of each (system, scenario) for one metric.

    Args:
        agg: the output of :func:`aggregate`.
        metric: the metric to rank by (``vpt``: higher is better; others lower).
        models: the display order, used to break ties (the first wins).

    Returns:
        ``{(system, scenario): model}``; cells where no model has a finite mean are left out.
    """
    out: dict[tuple[str, str], str] = {}
    order = {m: i for i, m in enumerate(models)}
    sub = agg[agg["metric"] == metric]
    for (system, scenario), grp in sub.groupby(["system", "scenario"], sort=False):
        cands = [
            (_rank_value(r.mean, metric), order.get(r.model, len(order)), r.model)
            for r in grp.itertuples()
        ]
        cands = [c for c in cands if math.isfinite(c[0])]
        if cands:
            out[(str(system), str(scenario))] = min(cands)[2]
    return out


def hybrid_losses(agg: pd.DataFrame, *, metric: str = "nrmse") -> list[dict[str, Any]]:
    """Every (system, scenario) where ``hybrid``'s mean is worse than the best other model's.

    "Other" includes every model not named exactly ``hybrid`` (also ``hybrid-no-pinn``). A
    non-finite hybrid mean loses to any finite one.

    Returns:
        Rows ``{system, scenario, metric, hybrid_mean, hybrid_std, best_model, best_mean,
        best_std}`` in the order of ``agg``.
    """
    out = []
    sub = agg[agg["metric"] == metric]
    for (system, scenario), grp in sub.groupby(["system", "scenario"], sort=False):
        hyb = grp[grp["model"] == HYBRID]
        others = grp[grp["model"] != HYBRID]
        if hyb.empty or others.empty:
            continue
        h = hyb.iloc[0]
        ranks = [_rank_value(m, metric) for m in others["mean"]]
        i = int(np.argmin(ranks))
        if not math.isfinite(ranks[i]):
            continue
        if _rank_value(h["mean"], metric) > ranks[i]:
            b = others.iloc[i]
            out.append(
                {
                    "system": str(system),
                    "scenario": str(scenario),
                    "metric": metric,
                    "hybrid_mean": float(h["mean"]),
                    "hybrid_std": float(h["std"]),
                    "best_model": str(b["model"]),
                    "best_mean": float(b["mean"]),
                    "best_std": float(b["std"]),
                }
            )
    return out


def ood_id_ratios(agg: pd.DataFrame, *, metric: str = "nrmse") -> list[dict[str, Any]]:
    """Mean error of each OOD scenario divided by the same model's mean ID error.

    Scenarios named ``<name>-adapted`` (evaluated after recalibration) are left out.

    Returns:
        Rows ``{system, model, scenario, ratio, id_mean, ood_mean}`` (no rows if the run has no
        ``id`` scenario). ``ratio`` is NaN/inf when a mean is non-finite or the ID mean is 0.
    """
    out = []
    sub = agg[agg["metric"] == metric]
    for (system, model), grp in sub.groupby(["system", "model"], sort=False):
        idm = grp[grp["scenario"] == ID_SCENARIO]
        if idm.empty:
            continue
        id_mean = float(idm.iloc[0]["mean"])
        # evaluations after recalibration are not out-of-distribution degradation
        ood = grp[(grp["scenario"] != ID_SCENARIO) & ~grp["scenario"].str.endswith(ADAPTED_SUFFIX)]
        for r in ood.itertuples():
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = float(np.float64(r.mean) / np.float64(id_mean))
            out.append(
                {
                    "system": str(system),
                    "model": str(model),
                    "scenario": str(r.scenario),
                    "ratio": ratio,
                    "id_mean": id_mean,
                    "ood_mean": float(r.mean),
                }
            )
    return out


def _cell(agg: pd.DataFrame, system: str, model: str, scenario: str, metric: str) -> float:
    m = agg[
        (agg["system"] == system)
        & (agg["model"] == model)
        & (agg["scenario"] == scenario)
        & (agg["metric"] == metric)
    ]
    return float(m.iloc[0]["mean"]) if len(m) else math.nan


def _findings(run: RunData, agg: pd.DataFrame, losses: list[dict], ratios: list[dict]) -> list[str]:
    out: list[str] = []
    best = best_models(agg, "nrmse", run.models)
    systems = [s for s in run.systems if s in set(agg["system"])]
    for system in systems:
        cells = [sc for sc in run.scenarios if (system, sc) in best]
        if not cells:
            continue
        winners: dict[str, list[str]] = {}
        for sc in cells:
            winners.setdefault(best[(system, sc)], []).append(sc)
        parts = [
            f"{m} in {len(scs)} of {len(cells)} ({', '.join(scs)})" for m, scs in winners.items()
        ]
        out.append(f"{system}: lowest mean nRMSE by {'; '.join(parts)}.")

    # hybrid against the pure-learned model
    if HYBRID in run.models and "learned" in run.models:
        ratios_hl = []
        for system in systems:
            for sc in run.scenarios:
                h = _cell(agg, system, HYBRID, sc, "nrmse")
                ell = _cell(agg, system, "learned", sc, "nrmse")
                if math.isfinite(h) and math.isfinite(ell) and ell > 0:
                    ratios_hl.append(h / ell)
        if ratios_hl:
            wins = sum(r < 1 for r in ratios_hl)
            out.append(
                f"hybrid has a lower mean nRMSE than learned in {wins} of {len(ratios_hl)} "
                f"system × scenario cells (median hybrid/learned ratio "
                f"{fmt(float(np.median(ratios_hl)))})."
            )

    if HYBRID in run.models:
        n_cells = len({(s, sc) for s, sc in best})
        if losses:
            cells = ", ".join(
                f"{r['system']}/{r['scenario']} (hybrid {fmt(r['hybrid_mean'])} vs "
                f"{r['best_model']} {fmt(r['best_mean'])})"
                for r in losses
            )
            out.append(f"hybrid is beaten in {len(losses)} of {n_cells} cells: {cells}.")
        else:
            out.append(f"hybrid has the lowest (or tied lowest) mean nRMSE in all {n_cells} cells.")

    finite = [r for r in ratios if math.isfinite(r["ratio"])]
    if finite:
        hi = max(finite, key=lambda r: r["ratio"])
        lo = min(finite, key=lambda r: r["ratio"])
        out.append(
            f"Largest OOD/ID nRMSE ratio: {hi['model']} on {hi['system']}/{hi['scenario']} "
            f"({fmt(hi['ratio'])}×); smallest: {lo['model']} on {lo['system']}/"
            f"{lo['scenario']} ({fmt(lo['ratio'])}×)."
        )

    div = run.metrics[run.metrics["metric"] == "diverged"]
    div = div[div["value"].fillna(1) > 0]
    if not div.empty:
        tot = div.groupby(["system", "model", "scenario"], sort=False)["value"].sum()
        items = ", ".join(f"{m} on {s}/{sc} ({fmt(v)})" for (s, m, sc), v in tot.items())
        out.append(f"Diverged rollouts (summed over seeds): {items}.")
    n_bad = int((~np.isfinite(run.metrics["value"].to_numpy())).sum())
    if n_bad:
        out.append(
            f"{n_bad} metric value(s) are NaN/inf (diverged rollouts); the affected means are "
            f"shown as nan/inf."
        )
    return out


def summarize(run: RunData) -> dict[str, Any]:
    """The aggregated view of a run, as written to ``summary.json``.

    Returns:
        The :class:`~hybridwm.schemas.Summary` document as a dict (non-finite floats kept) with
        keys ``format_version``, ``run``, ``systems``, ``models``, ``scenarios``,
        ``table`` (rows ``system, model, scenario, metric, mean, std, n_seeds`` for every
        metric), ``best`` (rows ``system, scenario, metric, model, mean`` for ``nrmse`` and
        ``vpt``), ``ood_id_ratio`` (see :func:`ood_id_ratios`), ``hybrid_losses`` (see
        :func:`hybrid_losses`) and ``findings`` (plain-language sentences).
    """
    agg = aggregate(run.metrics)
    best_rows = []
    for metric in ("nrmse", "vpt"):
        for (system, scenario), model in best_models(agg, metric, run.models).items():
            best_rows.append(
                {
                    "system": system,
                    "scenario": scenario,
                    "metric": metric,
                    "model": model,
                    "mean": _cell(agg, system, model, scenario, metric),
                }
            )
    losses = hybrid_losses(agg)
    ratios = ood_id_ratios(agg)
    summary = Summary(
        format_version=FORMAT_VERSION,
        run=run.name,
        systems=list(run.systems),
        models=run.models,
        scenarios=run.scenarios,
        table=agg.to_dict(orient="records"),
        best=best_rows,
        ood_id_ratio=ratios,
        hybrid_losses=losses,
        findings=_findings(run, agg, losses, ratios),
    )
    return summary.model_dump()
