"""The report's sections, one function each, and :func:`build_report` that puts them in order.

Each function takes the parsed run (and the aggregates it needs) and returns a
:class:`~hybridwm.reports.blocks.Section` of plain blocks; the templates write the same blocks
as Markdown and HTML.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from hybridwm.metrics import UncertaintyDocument, read_uncertainty
from hybridwm.reports import plots
from hybridwm.reports.blocks import (
    Block,
    Bullets,
    Cell,
    Code,
    Figure,
    Heading,
    Math,
    Note,
    Paragraph,
    Report,
    Section,
    Table,
)
from hybridwm.reports.rundir import RunData
from hybridwm.reports.summary import HYBRID, aggregate, info_only_notes, summarize
from hybridwm.reports.tables import (
    MAIN_METRICS,
    coefficient_table,
    cost_table,
    kv_table,
    losses_table,
    metric_table,
    other_metrics_table,
    ratio_table,
    scenario_table,
)
from hybridwm.reports.training import training_section
from hybridwm.schemas import SystemEntry

__all__ = [
    "build_report",
    "equations_section",
    "findings_section",
    "generalisation_section",
    "hybrid_losses_section",
    "results_section",
    "setup_section",
    "uncertainty_section",
]

#: config.json fields shown in the setup overview (the rest go to "Other settings")
_OVERVIEW = ("preset", "systems", "models", "scenarios", "seeds", "train")


def _figure(key: str, title: str, caption: str, draw: Callable[[], Any]) -> Block:
    """The figure ``draw()`` returns, or a note saying why it could not be drawn."""
    try:
        png = plots.to_png(draw())
    except Exception as exc:  # a broken plot must not lose the whole report
        warnings.warn(f"Figure {key!r} could not be drawn: {exc}", RuntimeWarning, stacklevel=2)
        return Note(f"Figure “{title}” could not be drawn: {exc}")
    return Figure(key, title, caption, png)


def findings_section(summary: dict[str, Any]) -> Section:
    """Key findings: the plain-language sentences of the summary."""
    items = summary["findings"] or ["No metric values were recorded."]
    return Section("findings", "Key findings", [Bullets(items)])


def _info_only_note(run: RunData) -> list[Block]:
    """What the information-only scenarios are, and which scenario is their headline."""
    return [Note(text) for text in info_only_notes(run.scenarios)]


def hybrid_losses_section(run: RunData, summary: dict[str, Any]) -> Section:
    """Where the hybrid loses: every system × scenario cell where another model is better
    (information-only scenarios left out, and said so)."""
    sec = Section("hybrid-loses", "Where the hybrid loses")
    losses = summary["hybrid_losses"]
    if HYBRID not in run.models:
        sec.blocks.append(Paragraph("None: this run has no model named “hybrid”."))
    elif not losses:
        sec.blocks.append(
            Paragraph(
                "None: in every system × scenario, hybrid's mean nRMSE is the lowest "
                "(or tied for lowest) of all models."
            )
        )
    else:
        sec.blocks.append(
            Paragraph(
                f"In {len(losses)} system × scenario cell(s), hybrid's mean nRMSE is worse than "
                "the best other model's (mean ± std over seeds):"
            )
        )
        sec.blocks.append(losses_table(losses))
    if HYBRID in run.models:
        sec.blocks.extend(_info_only_note(run))
    return sec


def _overview(run: RunData) -> dict[str, str]:
    cfg = run.config or {}
    seeds = cfg.get("seeds", sorted({int(s) for s in run.metrics["seed"]}))
    return {
        "run directory": str(run.path),
        "preset": cfg.get("preset", "–"),
        "systems": ", ".join(map(str, cfg.get("systems", list(run.systems)))),
        "models": ", ".join(map(str, cfg.get("models", run.models))),
        "scenarios": ", ".join(map(str, cfg.get("scenarios", run.scenarios))),
        "seeds": ", ".join(map(str, seeds)),
    }


def setup_section(run: RunData) -> Section:
    """Setup: what was run, training budgets, costs, scenarios, other settings, software."""
    cfg = run.config or {}
    blocks: list[Block] = [kv_table(_overview(run), "What was run.")]
    if run.config is None:
        blocks.append(Note("config.json was not found in the run directory."))
    train = cfg.get("train")
    if isinstance(train, dict) and train:
        blocks.append(kv_table(train, "Training budgets."))
    cost = cost_table(run)
    if cost is not None:
        blocks.append(cost)
    if run.scenario_descriptions:
        blocks.append(scenario_table(run.scenario_descriptions))
    extra = {k: v for k, v in cfg.items() if k not in _OVERVIEW}
    if extra:
        blocks.append(kv_table(extra, "Other settings."))
    if run.setup or run.times:
        blocks.append(kv_table({**run.setup, **run.times}, "Software, machine and time."))
    return Section("setup", "Setup", blocks)


def _present_systems(run: RunData, column: pd.Series) -> list[str]:
    seen = set(column)
    return [s for s in run.systems if s in seen]


def _samples_of(run: RunData, system: str) -> dict[str, pd.DataFrame]:
    """``{scenario: sample episodes}`` of one system, known scenarios first."""
    samples = {sc: run.samples[(system, sc)] for sc in run.scenarios if (system, sc) in run.samples}
    samples.update(
        {sc: v for (sy, sc), v in run.samples.items() if sy == system and sc not in samples}
    )
    return samples


def _system_figures(run: RunData, system: str, agg: pd.DataFrame) -> list[Block]:
    """Rollouts, error against horizon and valid prediction time of one system."""
    order = {"scenarios": run.scenarios, "models": run.models}
    blocks: list[Block] = []
    samples = _samples_of(run, system)
    if samples:
        names = run.systems[system].state_names
        blocks.append(
            _figure(
                f"rollouts_{system}",
                f"Rollouts on {system}",
                "One sample episode per scenario (rows); ground truth solid black, models dashed.",
                lambda: plots.plot_rollouts(
                    samples,
                    names,
                    models=run.models,
                    title=f"{system}: rollouts against ground truth",
                ),
            )
        )
    if run.curves is not None and system in set(run.curves["system"]):
        curves = run.curves[run.curves["system"] == system]
        blocks.append(
            _figure(
                f"horizon_{system}",
                f"Error vs horizon on {system}",
                "nRMSE at each prediction step: mean over seeds, band = min–max over seeds.",
                lambda: plots.plot_error_vs_horizon(
                    curves, **order, title=f"{system}: error vs horizon"
                ),
            )
        )
    vpt = agg[(agg["system"] == system) & (agg["metric"] == "vpt")]
    if not vpt.empty:
        blocks.append(
            _figure(
                f"vpt_{system}",
                f"Valid prediction time on {system}",
                "Mean ± std over seeds.",
                lambda: plots.plot_vpt(vpt, **order, title=f"{system}: valid prediction time"),
            )
        )
    return blocks


def results_section(run: RunData, agg: pd.DataFrame, summary: dict[str, Any]) -> Section:
    """Results: per system, the nRMSE and valid-prediction-time tables, the other metrics and
    the figures."""
    sec = Section("results", "Results")
    sec.blocks.append(
        Paragraph(
            "nRMSE is the mean over states of (RMSE of the state over episodes and time steps / "
            "std of the state in the ground truth). The valid prediction time is how long an "
            "episode's normalised error stays below the threshold."
        )
    )
    sec.blocks.extend(_info_only_note(run))
    best = {
        metric: {
            (r["system"], r["scenario"]): r["model"]
            for r in summary["best"]
            if r["metric"] == metric
        }
        for metric in MAIN_METRICS
    }
    for system in _present_systems(run, agg["system"]):
        tables = [metric_table(agg, system, m, run, best[m]) for m in MAIN_METRICS]
        tables.append(other_metrics_table(agg, system, run))
        sec.blocks.append(Heading(system))
        sec.blocks.extend(t for t in tables if t is not None)
        sec.blocks.extend(_system_figures(run, system, agg))
    return sec


def generalisation_section(run: RunData, summary: dict[str, Any]) -> Section | None:
    """Out-of-distribution / in-distribution error ratios (None when the run has no ID
    scenario to compare with)."""
    ratios = pd.DataFrame(
        summary["ood_id_ratio"],
        columns=["system", "model", "scenario", "ratio", "id_mean", "ood_mean"],
    )
    if ratios.empty:
        return None
    blocks: list[Block] = [
        Paragraph(
            "Each model's mean nRMSE on an out-of-distribution scenario divided by its mean "
            "nRMSE in distribution (1 means no degradation)."
        )
    ]
    blocks += [ratio_table(ratios, s, run) for s in _present_systems(run, ratios["system"])]
    blocks.append(
        _figure(
            "ood_id_ratio",
            "OOD/ID error ratio",
            "nRMSE(OOD) / nRMSE(ID) per model; the dotted line marks 1.",
            lambda: plots.plot_ood_ratio(
                ratios, systems=list(run.systems), scenarios=run.scenarios, models=run.models
            ),
        )
    )
    return Section("generalisation", "Out-of-distribution / in-distribution", blocks)


def _equation_blocks(system: str, entry: SystemEntry) -> list[Block]:
    """One system's equations, their LaTeX, its coefficient table and, where the truth is
    known, the coefficient figure."""
    blocks: list[Block] = [Heading(system)]
    if entry.equations:
        blocks.append(Code("\n".join(entry.equations)))
    else:
        blocks.append(Paragraph("No equations were recorded for this system."))
    if entry.equations_latex:
        blocks.append(Math(list(entry.equations_latex)))
    table = coefficient_table(entry)
    if table is not None:
        blocks.append(table)
    coefs, truth, std = entry.coefficients, entry.true_coefficients, entry.coefficients_std
    if coefs and truth:
        blocks.append(
            _figure(
                f"coefficients_{system}",
                f"Coefficients on {system}",
                "Discovered (with ensemble std where recorded) against true coefficients.",
                lambda: plots.plot_coefficients(coefs, truth, std=std or None),
            )
        )
    return blocks


def _mean_cell(values: list[Any], fmt: str = ".3f") -> Cell:
    v = np.array([np.nan if x is None else x for x in values], dtype=float)
    v = v[~np.isnan(v)]
    if not v.size:
        return Cell("–")
    return Cell(f"{v.mean():{fmt}}" + (f" ± {v.std():{fmt}}" if v.size > 1 else ""))


def _uncertainty_table(doc: UncertaintyDocument, system: str, run: RunData) -> Table:
    """Coverage (before and after recalibration), CRPS and detection per model and scenario."""
    rows = [r for r in doc.rows if r.system == system]
    horizons = rows[0].horizons
    groups: dict[tuple[str, str], list[Any]] = {}
    for r in rows:
        groups.setdefault((r.model, r.scenario), []).append(r)
    order = {n: i for i, n in enumerate([*run.models, *run.scenarios])}
    cells = []
    for (model, scenario), rs in sorted(
        groups.items(), key=lambda kv: [order.get(k, 99) for k in kv[0]]
    ):
        raw = [
            _mean_cell([(r.coverage90_raw or [None] * len(horizons))[k] for r in rs])
            for k in range(len(horizons))
        ]
        cal = [_mean_cell([r.coverage90[k] for r in rs]) for k in range(len(horizons))]
        tail = [
            _mean_cell([r.crps for r in rs], ".3g"),
            _mean_cell([r.auroc for r in rs]),
            _mean_cell([r.flagged for r in rs]),
        ]
        cells.append([Cell(model), Cell(scenario), *raw, *cal, *tail])
    headers = ["model", "scenario"]
    headers += [f"90% raw @{h}" for h in horizons] + [f"90% @{h}" for h in horizons]
    headers += ["CRPS", "AUROC vs id", "flagged"]
    return Table(
        headers,
        cells,
        f"{system}: share of the truth inside the 90 % interval at each horizon (steps), before "
        f"(raw) and after recalibration on validation data; CRPS in scale units; detection AUROC "
        f"of id against the scenario and the share of its episodes flagged. Mean ± std over "
        f"{len({r.seed for r in rows})} seed(s).",
        title=f"Uncertainty on {system}",
    )


def _band_frame(band: Any, values: Any, source: str, bound: str | None = None) -> pd.DataFrame:
    """One band's (T, n_x) ``values`` in the samples long format (episode 0)."""
    df = pd.DataFrame(np.asarray(values, dtype=float), columns=band.state_names)
    df.insert(0, "source", source)
    df.insert(0, "t", np.asarray(band.t, dtype=float))
    df.insert(0, "episode", 0)
    if bound is not None:
        df["bound"] = bound
    return df


def _band_frames(doc: UncertaintyDocument, system: str) -> tuple[dict, dict, list[str]]:
    """The bands of ``system`` as ``({scenario: rollout samples}, {scenario: intervals},
    state names)`` in the long format of :func:`~hybridwm.reports.plots.plot_rollouts`."""
    samples: dict[str, list[pd.DataFrame]] = {}
    bands: dict[str, list[pd.DataFrame]] = {}
    names: list[str] = []
    for b in (b for b in doc.bands if b.system == system):
        names = b.state_names
        samples.setdefault(b.scenario, [_band_frame(b, b.truth, "truth")])
        samples[b.scenario].append(_band_frame(b, b.mean, b.model))
        bands.setdefault(b.scenario, []).extend(
            [_band_frame(b, b.lower, b.model, "lower"), _band_frame(b, b.upper, b.model, "upper")]
        )
    samples_df = {k: pd.concat(v, ignore_index=True) for k, v in samples.items()}
    return samples_df, {k: pd.concat(v, ignore_index=True) for k, v in bands.items()}, names


def uncertainty_section(run: RunData) -> Section | None:
    """Calibration and change detection of ensembles (None when the run directory has no
    ``uncertainty.json``)."""
    doc = read_uncertainty(run.path)
    if doc is None or not doc.rows:
        return None
    blocks: list[Block] = [
        Paragraph(
            "Ensembles of each model kind predict a mean and a spread; the spread is recalibrated "
            "on in-distribution validation episodes (per horizon band and state, a factor on the "
            "members' spread and a floor for errors the members agree on). A well-calibrated "
            "90 % interval holds the truth 90 % of the time; out of distribution, the coverage "
            "shows how honest the intervals stay. The change detector scores each episode "
            "(ensemble disagreement, plus the physics residual and, for gated hybrids, the "
            "distance from the training data)."
        )
    ]
    systems = list(dict.fromkeys(r.system for r in doc.rows))
    for system in systems:
        blocks.append(_uncertainty_table(doc, system, run))
        curves = pd.DataFrame(
            [
                {
                    "model": r.model,
                    "scenario": r.scenario,
                    "seed": r.seed,
                    "level": lv,
                    "observed": ob,
                }
                for r in doc.rows
                if r.system == system
                for lv, ob in zip(r.levels, r.observed, strict=True)
            ],
            columns=["model", "scenario", "seed", "level", "observed"],
        )
        models = list(dict.fromkeys(curves["model"]))
        scenarios = list(dict.fromkeys(curves["scenario"]))
        if not curves.empty:
            blocks.append(
                _figure(
                    f"calibration_{system}",
                    f"Calibration curves on {system}",
                    "Observed coverage of central intervals against their nominal level "
                    "(after recalibration; dotted: ideal). Mean over seeds, band min–max.",
                    lambda c=curves, m=models, s=scenarios, y=system: plots.plot_calibration_curve(
                        c, scenarios=s, models=m, title=f"{y}: calibration"
                    ),
                )
            )
        samples, bands, names = _band_frames(doc, system)
        if samples:
            blocks.append(
                _figure(
                    f"intervals_{system}",
                    f"Prediction intervals on {system}",
                    "One episode per scenario: truth solid black, ensemble means dashed, shaded "
                    "90 % intervals (recalibrated).",
                    lambda a=samples, b=bands, n=names, m=models, y=system: plots.plot_rollouts(
                        a, n, models=m, bands=b, title=f"{y}: prediction intervals"
                    ),
                )
            )
    return Section("uncertainty", "Uncertainty: calibration and change detection", blocks)


def equations_section(run: RunData) -> Section:
    """Discovered equations of every system."""
    blocks = [b for system, entry in run.systems.items() for b in _equation_blocks(system, entry)]
    return Section("equations", "Discovered equations", blocks)


def _subtitle(run: RunData) -> str:
    cfg, setup = run.config or {}, run.setup
    bits = [f"run {run.name}"]
    if "preset" in cfg:
        bits.append(f"preset {cfg['preset']}")
    if "hybridwm" in setup:
        bits.append(f"hybridwm {setup['hybridwm']}")
    if "finished" in run.times:
        bits.append(f"finished {run.times['finished']}")
    return " · ".join(map(str, bits))


def build_report(run: RunData) -> Report:
    """Build the report's content (sections, tables, figures) from a parsed run.

    Args:
        run: the output of :func:`~hybridwm.reports.rundir.read_run`.

    Returns:
        A :class:`~hybridwm.reports.blocks.Report`, ready for
        :func:`~hybridwm.reports.render_markdown` / :func:`~hybridwm.reports.render_html`.
    """
    summary = summarize(run)
    agg = aggregate(run.metrics)
    sections = [
        findings_section(summary),
        hybrid_losses_section(run, summary),
        setup_section(run),
        training_section(run, agg),
        results_section(run, agg, summary),
        generalisation_section(run, summary),
        uncertainty_section(run),
        equations_section(run),
    ]
    return Report(
        title="hybridwm benchmark report",
        subtitle=_subtitle(run),
        sections=[s for s in sections if s is not None],
        summary=summary,
    )
