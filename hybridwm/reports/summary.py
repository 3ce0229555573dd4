"""Aggregate a run's metric rows: mean ± std over seeds, best models, OOD/ID ratios, findings.

Conventions:
    * ``std`` is the sample standard deviation over seeds (ddof=1), and 0 with one seed.
    * Zero-shot ``ood-params`` (and any scenario the run also evaluated after adaptation) is
      information only: no model knows the changed parameters, so its cells are shown but not
      counted as hybrid losses; the headline is ``<scenario>-adapted``
      (:func:`info_only_scenarios`).
    * A NaN or inf value (a diverged rollout) is kept: the mean of a cell with one is NaN/inf.
      When ranking models, a non-finite mean counts as the worst possible value.
    * Lower is better for every metric except ``vpt`` (valid prediction time).
    * Numbers are shown everywhere with :func:`fmt` (``f"{v:.3g}"``).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from hybridwm.reports.rundir import RunData
from hybridwm.schemas import ADAPTED_SUFFIX, FIT_SCENARIO, FORMAT_VERSION, Summary

__all__ = [
    "HIGHER_IS_BETTER",
    "aggregate",
    "best_models",
    "fmt",
    "hybrid_comparison",
    "hybrid_losses",
    "info_only_notes",
    "info_only_scenarios",
    "int_span",
    "ood_id_ratios",
    "summarize",
]

HIGHER_IS_BETTER = frozenset({"vpt"})
HYBRID = "hybrid"
ID_SCENARIO = "id"
#: the zero-shot parameter shift: no model knows the new parameters
ZERO_SHOT = "ood-params"
#: the models the hybrid must beat, with the names the findings give them
BASELINES = {"physics": "physics-only", "learned": "learned"}
#: a stop reason that makes a run's numbers depend on the machine's speed
MAX_TIME = "max_time"
#: the stop reason of a model with nothing to train (discovered physics taken as it is)
NOTHING = "nothing to train"


def info_only_scenarios(scenarios: Iterable[str]) -> list[str]:
    """The scenarios shown as information only: zero-shot ``ood-params`` and any scenario the
    run also evaluated after adaptation (``<name>-adapted``, its headline)."""
    names = list(scenarios)
    return [sc for sc in names if sc == ZERO_SHOT or f"{sc}{ADAPTED_SUFFIX}" in names]


def physics_label(incomplete: bool | None) -> str:
    """How the findings name a system's physics: ``incomplete physics``, ``exact physics``."""
    if incomplete is None:
        return "physics completeness not recorded"
    return "incomplete physics" if incomplete else "exact physics"


def int_span(values: Sequence[int]) -> str:
    """``"400"`` when every value (e.g. of every seed) is the same, else ``"380–400"``."""
    lo, hi = min(values), max(values)
    return str(lo) if lo == hi else f"{lo}–{hi}"


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


def hybrid_losses(
    agg: pd.DataFrame, *, metric: str = "nrmse", info_only: Collection[str] = ()
) -> list[dict[str, Any]]:
    """Every (system, scenario) where ``hybrid``'s mean is worse than the best other model's.

    "Other" includes every model not named exactly ``hybrid`` (also ``hybrid-no-pinn``). A
    non-finite hybrid mean loses to any finite one. Scenarios in ``info_only`` (see
    :func:`info_only_scenarios`) are left out.

    Returns:
        Rows ``{system, scenario, metric, hybrid_mean, hybrid_std, best_model, best_mean,
        best_std}`` in the order of ``agg``.
    """
    out = []
    sub = agg[agg["metric"] == metric]
    for (system, scenario), grp in sub.groupby(["system", "scenario"], sort=False):
        hyb = grp[grp["model"] == HYBRID]
        others = grp[grp["model"] != HYBRID]
        if hyb.empty or others.empty or scenario in info_only:
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


def hybrid_comparison(run: RunData, agg: pd.DataFrame) -> list[dict[str, Any]]:
    """The hybrid's mean nRMSE against the physics-only and the learned model's, per (system,
    scenario) where both were evaluated.

    Returns:
        Rows ``{system, scenario, other, hybrid_mean, other_mean, ratio, physics, info_only}``;
        ``ratio`` is hybrid over other (below 1: the hybrid is better; NaN/inf where a mean is
        non-finite or the other's is 0), ``physics`` the system's :func:`physics_label`.
    """
    if HYBRID not in run.models:
        return []
    sub = agg[agg["metric"] == "nrmse"]
    means = {(r.system, r.model, r.scenario): float(r.mean) for r in sub.itertuples()}
    info = set(info_only_scenarios(run.scenarios))
    out = []
    for system in run.systems:
        for sc in run.scenarios:
            for other in (m for m in BASELINES if m in run.models):
                if (system, HYBRID, sc) not in means or (system, other, sc) not in means:
                    continue
                h, o = means[(system, HYBRID, sc)], means[(system, other, sc)]
                with np.errstate(divide="ignore", invalid="ignore"):
                    ratio = float(np.float64(h) / np.float64(o))
                out.append(
                    {
                        "system": system,
                        "scenario": sc,
                        "other": other,
                        "hybrid_mean": h,
                        "other_mean": o,
                        "ratio": ratio,
                        "physics": physics_label(run.incomplete_physics(system)),
                        "info_only": sc in info,
                    }
                )
    return out


def _beats(row: dict[str, Any]) -> bool:
    return _rank_value(row["hybrid_mean"], "nrmse") < _rank_value(row["other_mean"], "nrmse")


def _loses(row: dict[str, Any]) -> bool:
    return _rank_value(row["hybrid_mean"], "nrmse") > _rank_value(row["other_mean"], "nrmse")


def _ratio_range(rows: list[dict[str, Any]]) -> str:
    """``"0.12–0.45×"`` over the finite ratios of ``rows`` (empty when there is none)."""
    finite = sorted(r["ratio"] for r in rows if math.isfinite(r["ratio"]))
    if not finite:
        return ""
    if finite[0] == finite[-1]:
        return f"{fmt(finite[0])}×"
    return f"{fmt(finite[0])}–{fmt(finite[-1])}×"


def _tally(rows: list[dict[str, Any]], unit: str) -> str:
    """``"physics-only in 3 of 4 <unit> (1 tied; hybrid/physics 0.1–1×) and learned in ..."``."""
    parts = []
    for other, name in BASELINES.items():
        mine = [r for r in rows if r["other"] == other]
        if mine:
            ties = sum(not _beats(r) and not _loses(r) for r in mine)
            detail = [f"{ties} tied"] if ties else []
            spread = _ratio_range(mine)
            detail += [f"hybrid/{other} {spread}"] if spread else []
            text = f"{name} in {sum(map(_beats, mine))} of {len(mine)} {unit}"
            parts.append(text + (f" ({'; '.join(detail)})" if detail else ""))
    return " and ".join(parts)


def _loss_text(row: dict[str, Any]) -> str:
    name = BASELINES[row["other"]]
    numbers = f"{fmt(row['hybrid_mean'])} vs {fmt(row['other_mean'])}"
    if not math.isfinite(row["ratio"]):
        return f"to {name} on {row['scenario']} ({numbers})"
    ratio = fmt(row["ratio"])
    if ratio == "1":  # a loss by less than 0.5 %: show that it is one
        ratio = f"{row['ratio']:.6g}"
    return f"to {name} on {row['scenario']} by {ratio}× its nRMSE ({numbers})"


def _system_verdicts(run: RunData, comparison: list[dict[str, Any]]) -> list[str]:
    """Per system (its physics labelled incomplete or exact): does the hybrid beat the
    physics-only and the learned model, and where does it lose, by how much."""
    out = []
    for system in run.systems:
        rows = [r for r in comparison if r["system"] == system and not r["info_only"]]
        if not rows:
            continue
        losses = [_loss_text(r) for r in rows if _loses(r)]
        where = "; ".join(losses) if losses else "nowhere"
        out.append(
            f"{system} ({rows[0]['physics']}): hybrid beats {_tally(rows, 'scenarios')}; it "
            f"loses {where}."
        )
    return out


def _situation_verdicts(run: RunData, comparison: list[dict[str, Any]]) -> list[str]:
    """One sentence per situation (incomplete physics, exact physics) over its systems."""
    out = []
    for flag in (True, False):
        label = physics_label(flag)
        rows = [r for r in comparison if r["physics"] == label and not r["info_only"]]
        if rows:
            systems = ", ".join(dict.fromkeys(r["system"] for r in rows))
            out.append(
                f"Where physics is {label.split()[0]} ({systems}), hybrid beats "
                f"{_tally(rows, 'system × scenario cells')}."
            )
    return out


def _training_findings(run: RunData) -> list[str]:
    """The training runs the ``max_time`` safety cap cut, and whether every trained model of a
    system took the same number of optimizer steps in its fit."""
    out = []
    cut = [r for r in run.training if r.stop_reason == MAX_TIME]
    if cut:
        runs = ", ".join(f"{r.model} on {r.system} (seed {r.seed}, {r.scenario})" for r in cut)
        out.append(
            f"Budget cut by max_time: results depend on machine speed. The wall-clock safety "
            f"cap stopped {len(cut)} training run(s): {runs}."
        )
    fits = [r for r in run.training if r.scenario == FIT_SCENARIO and r.stop_reason != NOTHING]
    for system in dict.fromkeys(r.system for r in fits):
        steps: dict[str, list[int]] = {}
        for r in fits:
            if r.system == system:
                steps.setdefault(r.model, []).append(r.steps)
        if len({n for values in steps.values() for n in values}) > 1:
            took = ", ".join(f"{m} {int_span(v)}" for m, v in steps.items())
            out.append(
                f"{system}: the fits took different numbers of optimizer steps ({took}); "
                f"see Training."
            )
    return out


def _winners(run: RunData, best: dict[tuple[str, str], str]) -> list[str]:
    """Per system: which model has the lowest mean nRMSE in how many scenarios."""
    out = []
    for system in run.systems:
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
    return out


def _losses_finding(run: RunData, best: dict[tuple[str, str], str], losses: list[dict]) -> str:
    info = set(info_only_scenarios(run.scenarios))
    n_cells = len({(s, sc) for s, sc in best if sc not in info})
    if not losses:
        return f"hybrid has the lowest (or tied lowest) mean nRMSE in all {n_cells} cells."
    cells = ", ".join(
        f"{r['system']}/{r['scenario']} (hybrid {fmt(r['hybrid_mean'])} vs "
        f"{r['best_model']} {fmt(r['best_mean'])})"
        for r in losses
    )
    return f"hybrid is beaten in {len(losses)} of {n_cells} cells: {cells}."


def info_only_notes(scenarios: Sequence[str]) -> list[str]:
    """One sentence per information-only scenario (:func:`info_only_scenarios`): what it is
    and which scenario is its headline."""
    out = []
    for sc in info_only_scenarios(scenarios):
        adapted = f"{sc}{ADAPTED_SUFFIX}"
        headline = adapted if adapted in scenarios else f"{adapted} (not in this run)"
        out.append(
            f"{sc} is information only: no model knows the new parameters (zero-shot); the "
            f"headline is {headline}. Its cells are shown but not counted as hybrid losses."
        )
    return out


def _ratio_and_divergence(run: RunData, ratios: list[dict]) -> list[str]:
    out = []
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


def _findings(
    run: RunData,
    agg: pd.DataFrame,
    losses: list[dict],
    ratios: list[dict],
    comparison: list[dict],
) -> list[str]:
    """The key findings, in reading order: training caveats first, then the hybrid against
    physics-only and learned (by situation, then per system), its losses, the
    information-only scenarios, per system who wins, OOD/ID ratios and divergences."""
    best = best_models(agg, "nrmse", run.models)
    out = _training_findings(run)
    out += _situation_verdicts(run, comparison) + _system_verdicts(run, comparison)
    if HYBRID in run.models:
        out.append(_losses_finding(run, best, losses))
    out += info_only_notes(run.scenarios) + _winners(run, best)
    return out + _ratio_and_divergence(run, ratios)


def summarize(run: RunData) -> dict[str, Any]:
    """The aggregated view of a run, as written to ``summary.json``.

    Returns:
        The :class:`~hybridwm.schemas.Summary` document as a dict (non-finite floats kept) with
        keys ``format_version``, ``run``, ``systems``, ``models``, ``scenarios``,
        ``table`` (rows ``system, model, scenario, metric, mean, std, n_seeds`` for every
        metric), ``best`` (rows ``system, scenario, metric, model, mean`` for ``nrmse`` and
        ``vpt``), ``ood_id_ratio`` (see :func:`ood_id_ratios`), ``hybrid_losses`` (see
        :func:`hybrid_losses`; information-only scenarios left out), ``hybrid_comparison``
        (see :func:`hybrid_comparison`) and ``findings`` (plain-language sentences).
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
    losses = hybrid_losses(agg, info_only=info_only_scenarios(run.scenarios))
    ratios = ood_id_ratios(agg)
    comparison = hybrid_comparison(run, agg)
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
        findings=_findings(run, agg, losses, ratios, comparison),
        hybrid_comparison=comparison,
    )
    return summary.model_dump()
