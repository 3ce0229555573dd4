"""The report's sections, one function each, and :func:`build_report` that puts them in order.

Each function takes the parsed run (and the aggregates it needs) and returns a
:class:`~hybridwm.reports.blocks.Section` of plain blocks; the templates write the same blocks
as Markdown and HTML.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import pandas as pd

from hybridwm.reports import plots
from hybridwm.reports.blocks import (
    Block,
    Bullets,
    Code,
    Figure,
    Heading,
    Math,
    Note,
    Paragraph,
    Report,
    Section,
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
        equations_section(run),
    ]
    return Report(
        title="hybridwm benchmark report",
        subtitle=_subtitle(run),
        sections=[s for s in sections if s is not None],
        summary=summary,
    )
