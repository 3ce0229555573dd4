"""Render a benchmark run directory as ``report.html``, ``report.md`` and ``summary.json``.

The report is built once as a list of sections made of plain blocks (paragraphs, lists, tables,
figures, code), and the same blocks are written as Markdown and as HTML, so both show the same
numbers, formatted by :func:`hybridwm.reports.summary.fmt` (``f"{v:.3g}"``).

* ``report.html`` is self-contained: inline CSS, figures embedded as base64 PNG, no scripts and
  no external URLs, so it opens offline and can be mailed as one file.
* ``report.md`` links the figures saved under ``<out_dir>/figures/*.png``.
* ``summary.json`` holds the aggregated numbers (see :func:`~hybridwm.reports.summary.summarize`).

Every file is written atomically.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from hybridwm._io import atomic_write_bytes, atomic_write_json, atomic_write_text
from hybridwm.reports import plots
from hybridwm.reports.rundir import RunData, read_run
from hybridwm.reports.summary import HIGHER_IS_BETTER, HYBRID, aggregate, fmt, summarize

__all__ = ["Report", "build_report", "render_html", "render_markdown", "render_report"]


# ---------------------------------------------------------------------------- the block model
@dataclass
class Cell:
    """One table cell: text and whether it is the best of its column."""

    text: str
    bold: bool = False


@dataclass
class Table:
    """A table with a header row and a caption."""

    headers: list[str]
    rows: list[list[Cell]]
    caption: str = ""
    title: str = ""


@dataclass
class FigureBlock:
    """A rendered figure: ``key`` names the PNG file under ``figures/``."""

    key: str
    title: str
    caption: str
    png: bytes

    @property
    def filename(self) -> str:
        """The PNG file name."""
        return re.sub(r"[^A-Za-z0-9_.-]+", "_", self.key) + ".png"


@dataclass
class Block:
    """A block of a section: ``kind`` is p, note, ul, table, figure, code, math, h3 or h4."""

    kind: str
    content: Any
    extra: str = ""


@dataclass
class Section:
    """A titled section of the report."""

    id: str
    title: str
    blocks: list[Block] = field(default_factory=list)


@dataclass
class Report:
    """The report's content, before it is written as Markdown or HTML."""

    title: str
    subtitle: str
    sections: list[Section]
    figures: list[FigureBlock]
    summary: dict[str, Any]


# ---------------------------------------------------------------------------- building
def _mean_std(mean: float, std: float) -> str:
    return f"{fmt(mean)} ± {fmt(std)}"


def _seeds_note(agg: pd.DataFrame) -> str:
    ns = sorted({int(n) for n in agg["n_seeds"]})
    return f"n = {ns[0]} seeds" if len(ns) == 1 else f"n = {ns[0]}–{ns[-1]} seeds"


def _metric_table(
    agg: pd.DataFrame, system: str, metric: str, run: RunData, best: dict[tuple[str, str], str]
) -> Table | None:
    d = agg[(agg["system"] == system) & (agg["metric"] == metric)]
    if d.empty:
        return None
    scenarios = [s for s in run.scenarios if s in set(d["scenario"])]
    models = [m for m in run.models if m in set(d["model"])]
    cells = {(r.model, r.scenario): r for r in d.itertuples()}
    rows = []
    for m in models:
        row = [Cell(m)]
        for sc in scenarios:
            r = cells.get((m, sc))
            if r is None:
                row.append(Cell("–"))
            else:
                row.append(Cell(_mean_std(r.mean, r.std), best.get((system, sc)) == m))
        rows.append(row)
    better = "higher" if metric in HIGHER_IS_BETTER else "lower"
    name = {"nrmse": "nRMSE", "vpt": "Valid prediction time [s]"}.get(metric, metric)
    caption = (
        f"{name} on {system}: mean ± std over seeds ({_seeds_note(d)}); "
        f"{better} is better, best in bold."
    )
    return Table(["model", *scenarios], rows, caption)


def _other_metrics_table(agg: pd.DataFrame, system: str, run: RunData) -> Table | None:
    d = agg[(agg["system"] == system) & ~agg["metric"].isin(["nrmse", "vpt"])]
    if d.empty:
        return None
    scenarios = [s for s in run.scenarios if s in set(d["scenario"])]
    metrics = list(dict.fromkeys(d["metric"]))
    cells = {(r.metric, r.model, r.scenario): r for r in d.itertuples()}
    rows = []
    for metric in metrics:
        for m in [m for m in run.models if m in set(d[d["metric"] == metric]["model"])]:
            row = [Cell(metric), Cell(m)]
            for sc in scenarios:
                r = cells.get((metric, m, sc))
                row.append(Cell("–") if r is None else Cell(_mean_std(r.mean, r.std)))
            rows.append(row)
    return Table(
        ["metric", "model", *scenarios],
        rows,
        f"Other metrics on {system}: mean ± std over seeds ({_seeds_note(d)}).",
    )


def _cost_table(run: RunData) -> Table | None:
    """Wall time of each fit (and adaptation) per system and model, mean ± std over seeds."""
    costs = run.costs
    if costs is None or costs.empty:
        return None
    columns = list(dict.fromkeys(zip(costs["metric"], costs["scenario"], strict=True)))
    columns.sort(key=lambda c: (c[0] != "fit_time", c[1]))
    # NaN marks a model loaded from the cache: its time was not measured
    agg = aggregate(costs.dropna(subset=["value"]))
    stats = {(r.system, r.model, r.metric, r.scenario): r for r in agg.itertuples()}
    rows = []
    for system in [s for s in run.systems if s in set(costs["system"])]:
        for model in [m for m in run.models if m in set(costs[costs["system"] == system]["model"])]:
            row = [Cell(system), Cell(model)]
            for metric, scenario in columns:
                r = stats.get((system, model, metric, scenario))
                row.append(Cell("–" if r is None else _mean_std(r.mean, r.std)))
            rows.append(row)
    headers = [
        "fit [s]" if metric == "fit_time" else f"adapt for {scenario.removesuffix('-adapted')} [s]"
        for metric, scenario in columns
    ]
    return Table(
        ["system", "model", *headers],
        rows,
        "Wall time of each training run, mean ± std over seeds ('–': every model of the cell "
        "was loaded from the run's cache, so no time was measured). A physics-only model uses "
        "the discovered equations as they are, so its fit time is only its set-up.",
    )


def _safe_figure(
    figures: list[FigureBlock],
    key: str,
    title: str,
    caption: str,
    draw: Callable[[], Any],
) -> Block:
    try:
        png = plots.to_png(draw())
    except Exception as exc:  # a broken plot must not lose the whole report
        warnings.warn(f"Figure {key!r} could not be drawn: {exc}", RuntimeWarning, stacklevel=2)
        return Block("note", f"Figure “{title}” could not be drawn: {exc}")
    fb = FigureBlock(key, title, caption, png)
    figures.append(fb)
    return Block("figure", fb)


def _term_label(eq: str) -> str:
    return eq.split("=")[0].strip()


def _equation_blocks(system: str, info: dict[str, Any], figures: list[FigureBlock]) -> list[Block]:
    blocks: list[Block] = [Block("h3", system)]
    eqs = [str(e) for e in info.get("equations", [])]
    if eqs:
        blocks.append(Block("code", "\n".join(eqs)))
    else:
        blocks.append(Block("p", "No equations were recorded for this system."))
    latex = info.get("equations_latex")
    if latex:
        blocks.append(Block("math", [str(x) for x in latex]))
    coef = info.get("coefficients") or {}
    std = info.get("coefficients_std") or {}
    prob = info.get("inclusion_probability") or {}
    true = info.get("true_coefficients") or {}
    if coef:
        headers = ["equation", "term", "coefficient"]
        if std:
            headers.append("ensemble std")
        if prob:
            headers.append("inclusion probability")
        if true:
            headers.append("true")
        rows = []
        for eq in list(dict.fromkeys([*coef, *true])):
            feats = list(dict.fromkeys([*coef.get(eq, {}), *true.get(eq, {})]))
            for f in feats:
                c = float(coef.get(eq, {}).get(f, 0.0))
                t = true.get(eq, {}).get(f)
                if c == 0.0 and not t:
                    continue
                row = [Cell(_term_label(eq)), Cell(f), Cell(fmt(c))]
                if std:
                    s = std.get(eq, {}).get(f)
                    row.append(Cell("–" if s is None else fmt(float(s))))
                if prob:
                    p = prob.get(eq, {}).get(f)
                    row.append(Cell("–" if p is None else fmt(float(p))))
                if true:
                    row.append(Cell(fmt(float(t)) if t is not None else "0"))
                rows.append(row)
        cap = "Discovered coefficients (non-zero terms)"
        if std:
            cap += "; ± is the std over the SINDy ensemble"
        if prob:
            cap += "; inclusion probability is the fraction of ensemble models that keep the term"
        blocks.append(Block("table", Table(headers, rows, cap + ".")))
    if coef and true:
        blocks.append(
            _safe_figure(
                figures,
                f"coefficients_{system}",
                f"Coefficients on {system}",
                "Discovered (with ensemble std where recorded) against true coefficients.",
                lambda: plots.plot_coefficients(coef, true, std=std or None),
            )
        )
    return blocks


def _kv_table(mapping: dict[str, Any], caption: str) -> Table:
    rows = []
    for k, v in mapping.items():
        text = v if isinstance(v, str) else json.dumps(v, sort_keys=False)
        rows.append([Cell(str(k)), Cell(str(text))])
    return Table(["key", "value"], rows, caption)


def build_report(run: RunData) -> Report:
    """Build the report's content (sections, tables, figures) from a parsed run.

    Args:
        run: the output of :func:`~hybridwm.reports.rundir.read_run`.

    Returns:
        A :class:`Report`, ready for :func:`render_markdown` / :func:`render_html`.
    """
    summary = summarize(run)
    agg = aggregate(run.metrics)
    best_n = {
        (r["system"], r["scenario"]): r["model"] for r in summary["best"] if r["metric"] == "nrmse"
    }
    best_v = {
        (r["system"], r["scenario"]): r["model"] for r in summary["best"] if r["metric"] == "vpt"
    }
    figures: list[FigureBlock] = []
    sections: list[Section] = []

    # --- findings
    sec = Section("findings", "Key findings")
    sec.blocks.append(Block("ul", summary["findings"] or ["No metric values were recorded."]))
    sections.append(sec)

    # --- where the hybrid loses
    sec = Section("hybrid-loses", "Where the hybrid loses")
    losses = summary["hybrid_losses"]
    if HYBRID not in run.models:
        sec.blocks.append(Block("p", "None: this run has no model named “hybrid”."))
    elif not losses:
        sec.blocks.append(
            Block(
                "p",
                "None: in every system × scenario, hybrid's mean nRMSE is the lowest "
                "(or tied for lowest) of all models.",
            )
        )
    else:
        sec.blocks.append(
            Block(
                "p",
                f"In {len(losses)} system × scenario cell(s), hybrid's mean nRMSE is worse than "
                "the best other model's (mean ± std over seeds):",
            )
        )
        rows = []
        for r in losses:
            ratio = r["hybrid_mean"] / r["best_mean"] if r["best_mean"] else math.inf
            rows.append(
                [
                    Cell(r["system"]),
                    Cell(r["scenario"]),
                    Cell(_mean_std(r["hybrid_mean"], r["hybrid_std"])),
                    Cell(r["best_model"]),
                    Cell(_mean_std(r["best_mean"], r["best_std"])),
                    Cell(f"{fmt(ratio)}×"),
                ]
            )
        sec.blocks.append(
            Block(
                "table",
                Table(
                    [
                        "system",
                        "scenario",
                        "hybrid nRMSE",
                        "best other model",
                        "its nRMSE",
                        "hybrid / best",
                    ],
                    rows,
                    "Cells where the hybrid model is not the most accurate.",
                ),
                "loses",
            )
        )
    sections.append(sec)

    # --- setup
    sec = Section("setup", "Setup")
    cfg = run.config or {}
    overview = {
        "run directory": str(run.path),
        "preset": cfg.get("preset", "–"),
        "systems": ", ".join(map(str, cfg.get("systems", list(run.systems)))),
        "models": ", ".join(map(str, cfg.get("models", run.models))),
        "scenarios": ", ".join(map(str, cfg.get("scenarios", run.scenarios))),
        "seeds": ", ".join(
            map(str, cfg.get("seeds", sorted({int(s) for s in run.metrics["seed"]})))
        ),
    }
    sec.blocks.append(Block("table", _kv_table(overview, "What was run."), "kv"))
    if run.config is None:
        sec.blocks.append(Block("note", "config.json was not found in the run directory."))
    train = cfg.get("train")
    if isinstance(train, dict) and train:
        sec.blocks.append(Block("table", _kv_table(train, "Training budgets."), "kv"))
    cost = _cost_table(run)
    if cost is not None:
        sec.blocks.append(Block("table", cost))
    if run.scenario_descriptions:
        rows = [
            [Cell(system), Cell(sc), Cell(text)]
            for system, scs in run.scenario_descriptions.items()
            for sc, text in scs.items()
        ]
        sec.blocks.append(
            Block(
                "table",
                Table(
                    ["system", "scenario", "what it is"],
                    rows,
                    "Scenarios: training data and evaluation episodes.",
                ),
                "text",
            )
        )
    extra = {
        k: v
        for k, v in cfg.items()
        if k not in {"preset", "systems", "models", "scenarios", "seeds", "train"}
    }
    if extra:
        sec.blocks.append(Block("table", _kv_table(extra, "Other settings."), "kv"))
    if run.setup:
        sec.blocks.append(Block("table", _kv_table(run.setup, "Software, machine and time."), "kv"))
    sections.append(sec)

    # --- results per system
    sec = Section("results", "Results")
    sec.blocks.append(
        Block(
            "p",
            "nRMSE is the mean over states of (RMSE of the state over episodes and time steps / "
            "std of the state in the ground truth). The valid prediction time is how long an "
            "episode's normalised error stays below the threshold.",
        )
    )
    for system in run.systems:
        if system not in set(agg["system"]):
            continue
        sec.blocks.append(Block("h3", system))
        for metric, best, label in (
            ("nrmse", best_n, "nRMSE"),
            ("vpt", best_v, "Valid prediction time"),
        ):
            t = _metric_table(agg, system, metric, run, best)
            if t is not None:
                t.title = f"{label} — {system}"
                sec.blocks.append(Block("table", t, metric))
        t = _other_metrics_table(agg, system, run)
        if t is not None:
            t.title = f"Other metrics — {system}"
            sec.blocks.append(Block("table", t, "other"))
        samples = {
            sc: run.samples[(system, sc)] for sc in run.scenarios if (system, sc) in run.samples
        }
        samples.update(
            {k[1]: v for k, v in run.samples.items() if k[0] == system and k[1] not in samples}
        )
        if samples:
            names = run.systems[system].get("state_names", [])
            sec.blocks.append(
                _safe_figure(
                    figures,
                    f"rollouts_{system}",
                    f"Rollouts on {system}",
                    "One sample episode per scenario (rows); "
                    "ground truth solid black, models dashed.",
                    lambda s=samples, n=names, sy=system: plots.plot_rollouts(
                        s, n, models=run.models, title=f"{sy}: rollouts against ground truth"
                    ),
                )
            )
        if run.curves is not None and system in set(run.curves["system"]):
            cur = run.curves[run.curves["system"] == system]
            sec.blocks.append(
                _safe_figure(
                    figures,
                    f"horizon_{system}",
                    f"Error vs horizon on {system}",
                    "nRMSE at each prediction step: mean over seeds, band = min–max over seeds.",
                    lambda c=cur, sy=system: plots.plot_error_vs_horizon(
                        c,
                        scenarios=run.scenarios,
                        models=run.models,
                        title=f"{sy}: error vs horizon",
                    ),
                )
            )
        sub = agg[(agg["system"] == system) & (agg["metric"] == "vpt")]
        if not sub.empty:
            sec.blocks.append(
                _safe_figure(
                    figures,
                    f"vpt_{system}",
                    f"Valid prediction time on {system}",
                    "Mean ± std over seeds.",
                    lambda a=sub, sy=system: plots.plot_vpt(
                        a,
                        scenarios=run.scenarios,
                        models=run.models,
                        title=f"{sy}: valid prediction time",
                    ),
                )
            )
    sections.append(sec)

    # --- OOD / ID
    ratios = pd.DataFrame(
        summary["ood_id_ratio"],
        columns=["system", "model", "scenario", "ratio", "id_mean", "ood_mean"],
    )
    if not ratios.empty:
        sec = Section("generalisation", "Out-of-distribution / in-distribution")
        sec.blocks.append(
            Block(
                "p",
                "Each model's mean nRMSE on an out-of-distribution scenario divided by its mean "
                "nRMSE in distribution (1 means no degradation).",
            )
        )
        for system in [s for s in run.systems if s in set(ratios["system"])]:
            d = ratios[ratios["system"] == system]
            scs = [s for s in run.scenarios if s in set(d["scenario"])]
            cells = {(r.model, r.scenario): r.ratio for r in d.itertuples()}
            rows = [
                [Cell(m)]
                + [Cell(f"{fmt(cells[(m, s)])}×" if (m, s) in cells else "–") for s in scs]
                for m in run.models
                if m in set(d["model"])
            ]
            sec.blocks.append(
                Block("table", Table(["model", *scs], rows, f"OOD/ID nRMSE ratio on {system}."))
            )
        sec.blocks.append(
            _safe_figure(
                figures,
                "ood_id_ratio",
                "OOD/ID error ratio",
                "nRMSE(OOD) / nRMSE(ID) per model; the dotted line marks 1.",
                lambda: plots.plot_ood_ratio(
                    ratios, systems=list(run.systems), scenarios=run.scenarios, models=run.models
                ),
            )
        )
        sections.append(sec)

    # --- equations
    sec = Section("equations", "Discovered equations")
    for system, info in run.systems.items():
        sec.blocks.extend(_equation_blocks(system, info, figures))
    sections.append(sec)

    setup = run.setup
    bits = [f"run {run.name}"]
    if "preset" in cfg:
        bits.append(f"preset {cfg['preset']}")
    if "hybridwm" in setup:
        bits.append(f"hybridwm {setup['hybridwm']}")
    if "finished" in setup:
        bits.append(f"finished {setup['finished']}")
    return Report(
        title="hybridwm benchmark report",
        subtitle=" · ".join(map(str, bits)),
        sections=sections,
        figures=figures,
        summary=summary,
    )


# ---------------------------------------------------------------------------- Markdown
def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_table(t: Table) -> list[str]:
    def cell(c: Cell) -> str:
        s = _md_escape(c.text)
        return f"**{s}**" if c.bold else s

    lines = [f"#### {t.title}", ""] if t.title else []
    lines += [
        "| " + " | ".join(_md_escape(h) for h in t.headers) + " |",
        "|" + "|".join(["---"] * len(t.headers)) + "|",
    ]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in t.rows]
    if t.caption:
        lines += ["", f"*{t.caption}*"]
    return lines


def render_markdown(report: Report, *, figure_dir: str = "figures") -> str:
    """The report as GitHub-flavoured Markdown; figures are linked from ``figure_dir``."""
    out = [f"# {report.title}", "", f"_{report.subtitle}_", ""]
    for sec in report.sections:
        out += [f"## {sec.title}", ""]
        for b in sec.blocks:
            if b.kind == "h3":
                out += [f"### {b.content}", ""]
            elif b.kind == "h4":
                out += [f"#### {b.content}", ""]
            elif b.kind == "p":
                out += [str(b.content), ""]
            elif b.kind == "note":
                out += [f"> {b.content}", ""]
            elif b.kind == "ul":
                out += [f"- {item}" for item in b.content] + [""]
            elif b.kind == "table":
                out += [*_md_table(b.content), ""]
            elif b.kind == "code":
                out += ["```text", str(b.content), "```", ""]
            elif b.kind == "math":
                for eq in b.content:
                    out += ["$$", eq, "$$", ""]
            elif b.kind == "figure":
                fb: FigureBlock = b.content
                out += [f"![{fb.title}]({figure_dir}/{fb.filename})", "", f"*{fb.caption}*", ""]
    return "\n".join(out).rstrip() + "\n"


# ---------------------------------------------------------------------------- HTML
_CSS = """
:root { --fg: #1f2933; --muted: #616e7c; --line: #e4e7eb; --accent: #00798c;
        --best: #e3f4ec; --warn: #fff4e0; --warn-line: #f0a830; --bg-alt: #f7f9fb; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: #eef1f4;
       font: 15px/1.55 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header { background: #102a43; color: #fff; padding: 28px 0 22px; }
header .wrap, main { max-width: 1120px; margin: 0 auto; padding: 0 28px; }
header h1 { margin: 0 0 4px; font-size: 26px; font-weight: 600; letter-spacing: .2px; }
header p { margin: 0; color: #bcccdc; font-size: 14px; }
nav { margin-top: 14px; display: flex; flex-wrap: wrap; gap: 6px 16px; font-size: 13px; }
nav a { color: #9fb3c8; text-decoration: none; } nav a:hover { color: #fff; }
main { padding-top: 22px; padding-bottom: 40px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px;
          padding: 18px 26px 12px; margin-bottom: 20px; box-shadow: 0 1px 2px rgba(16,42,67,.05); }
h2 { margin: 0 0 12px; font-size: 20px; font-weight: 600; color: #102a43;
     border-bottom: 2px solid var(--accent); padding-bottom: 6px; display: inline-block; }
h3 { margin: 26px 0 8px; font-size: 17px; color: #243b53; padding-top: 6px; border-top: 1px solid var(--line); }
h4 { margin: 16px 0 4px; font-size: 14px; color: #486581; font-weight: 600; }
p, li { max-width: 920px; }
ul.findings li { margin: 4px 0; }
.tbl { overflow-x: auto; margin: 8px 0 16px; }
.tbl h4 { margin: 4px 0 6px; }
table { border-collapse: collapse; font-size: 13.5px; min-width: 40%; }
th, td { padding: 6px 12px; border-bottom: 1px solid var(--line); text-align: left; white-space: nowrap; }
th.num, td.num { text-align: right; font-variant-numeric: tabular-nums; }
th { background: var(--bg-alt); font-weight: 600; color: #334e68; border-bottom: 2px solid #cbd2d9; }
.grid { display: flex; flex-wrap: wrap; gap: 0 32px; align-items: flex-start; }
.grid .tbl { max-width: 100%; }
table.kv th { text-align: left; }
table.kv td { white-space: normal; text-align: left; font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12.5px; }
table.kv td:first-child { font-family: inherit; color: var(--muted); width: 190px; }
tbody tr:nth-child(even) { background: #fbfcfd; }
tbody tr:hover { background: #f0f4f8; }
td.best { background: var(--best); font-weight: 700; }
table.loses td { background: var(--warn); }
table.text td:last-child { white-space: normal; min-width: 320px; }
caption { caption-side: bottom; text-align: left; color: var(--muted); font-size: 12.5px; padding-top: 6px; }
.note { border-left: 4px solid var(--warn-line); background: var(--warn); padding: 8px 12px; border-radius: 4px; }
pre { background: #102a43; color: #f0f4f8; padding: 12px 16px; border-radius: 6px; overflow-x: auto;
      font: 13px/1.5 ui-monospace, Menlo, Consolas, monospace; }
details { margin: 4px 0 12px; color: var(--muted); font-size: 13px; }
details code { display: block; white-space: pre-wrap; }
figure { margin: 14px 0 22px; text-align: center; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 6px; }
figcaption { color: var(--muted); font-size: 13px; margin-top: 6px; }
figcaption b { color: var(--fg); }
footer { color: var(--muted); font-size: 12px; text-align: center; padding: 10px 0 30px; }
"""


_NUMERIC = re.compile(r"^[-+−]?(\d|\.\d|nan|inf|–$)")


def _html_table(t: Table, cls: str = "") -> str:
    e = html.escape
    numeric = [
        all(_NUMERIC.match(row[j].text) for row in t.rows if j < len(row)) and j > 0
        for j in range(len(t.headers))
    ]

    def td(c: Cell, j: int, tag: str = "td") -> str:
        classes = " ".join(
            k for k, on in (("num", j < len(numeric) and numeric[j]), ("best", c.bold)) if on
        )
        attr = f' class="{classes}"' if classes else ""
        inner = f"<strong>{e(c.text)}</strong>" if c.bold else e(c.text)
        return f"<{tag}{attr}>{inner}</{tag}>"

    head = "".join(td(Cell(h), j, "th") for j, h in enumerate(t.headers))
    body = "".join(
        "<tr>" + "".join(td(c, j) for j, c in enumerate(row)) + "</tr>" for row in t.rows
    )
    cap = f"<caption>{e(t.caption)}</caption>" if t.caption else ""
    title = f"<h4>{e(t.title)}</h4>" if t.title else ""
    attr = f' class="{e(cls)}"' if cls else ""
    return (
        f'<div class="tbl">{title}<table{attr}>{cap}<thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


def render_html(report: Report) -> str:
    """The report as one self-contained HTML page (inline CSS, base64 PNG figures, no scripts)."""
    e = html.escape
    nav = "".join(f'<a href="#{e(s.id)}">{e(s.title)}</a>' for s in report.sections)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(report.title)}</title><style>{_CSS}</style></head><body>",
        f'<header><div class="wrap"><h1>{e(report.title)}</h1><p>{e(report.subtitle)}</p>',
        f"<nav>{nav}</nav></div></header><main>",
    ]
    for sec in report.sections:
        parts.append(f'<section id="{e(sec.id)}"><h2>{e(sec.title)}</h2>')
        in_grid = False
        for b in sec.blocks:
            is_tbl = b.kind == "table"
            if is_tbl != in_grid:  # consecutive tables sit side by side where they fit
                parts.append('<div class="grid">' if is_tbl else "</div>")
                in_grid = is_tbl
            if b.kind == "h3":
                parts.append(f"<h3>{e(str(b.content))}</h3>")
            elif b.kind == "h4":
                parts.append(f"<h4>{e(str(b.content))}</h4>")
            elif b.kind == "p":
                parts.append(f"<p>{e(str(b.content))}</p>")
            elif b.kind == "note":
                parts.append(f'<p class="note">{e(str(b.content))}</p>')
            elif b.kind == "ul":
                items = "".join(f"<li>{e(str(i))}</li>" for i in b.content)
                parts.append(f'<ul class="findings">{items}</ul>')
            elif b.kind == "table":
                parts.append(_html_table(b.content, b.extra))
            elif b.kind == "code":
                parts.append(f"<pre>{e(str(b.content))}</pre>")
            elif b.kind == "math":
                code = e("\n".join(b.content))
                parts.append(f"<details><summary>LaTeX</summary><code>{code}</code></details>")
            elif b.kind == "figure":
                fb: FigureBlock = b.content
                data = base64.b64encode(fb.png).decode("ascii")
                parts.append(
                    f'<figure><img alt="{e(fb.title)}" src="data:image/png;base64,{data}">'
                    f"<figcaption><b>{e(fb.title)}.</b> {e(fb.caption)}</figcaption></figure>"
                )
        if in_grid:
            parts.append("</div>")
        parts.append("</section>")
    parts.append("</main><footer>Generated by hybridwm from results.json.</footer></body></html>")
    return "\n".join(parts) + "\n"


# ---------------------------------------------------------------------------- entry point
def render_report(
    run_dir: str | os.PathLike[str], *, out_dir: str | os.PathLike[str] | None = None
) -> dict[str, Path]:
    """Write ``report.html``, ``report.md``, ``summary.json`` and ``figures/*.png`` for a run.

    Args:
        run_dir: a benchmark run directory (format: :mod:`hybridwm.reports.rundir`).
        out_dir: where to write; defaults to ``run_dir``.

    Returns:
        ``{"html": ..., "markdown": ..., "summary": ..., "figures": <figures folder>}``.

    Raises:
        FormatError: if the run directory is missing or malformed (see
            :func:`~hybridwm.reports.rundir.read_run`).
    """
    run = read_run(run_dir)
    out = Path(out_dir) if out_dir is not None else run.path
    report = build_report(run)
    fig_dir = out / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    for fb in report.figures:
        atomic_write_bytes(fig_dir / fb.filename, fb.png)
    md = atomic_write_text(out / "report.md", render_markdown(report, figure_dir="figures"))
    page = atomic_write_text(out / "report.html", render_html(report))
    summ = atomic_write_json(out / "summary.json", report.summary)
    return {"html": page, "markdown": md, "summary": summ, "figures": fig_dir}
