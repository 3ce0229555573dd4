"""The report of a learning-loop run: return and success against seconds of real interaction.

Reads ``<run>/learning.json`` (:class:`~hybridwm.schemas.LearningRun`, written by
:func:`hybridwm.control.write_learning_run`) and writes ``report.html`` (self-contained),
``report.md``, ``summary.json`` and ``figures/*.png``, through the same blocks and templates as
the benchmark report. It shows, per model kind:

* the interaction each seed needed to its first successful evaluation episode, the share of
  seeds that got there, the median over seeds and its ratio to the reference kind's (the
  hybrid when it ran): a seed that never succeeded counts as needing more than the most it
  was given, so a median or ratio over such seeds is a bound (``>``), not a value;
* curves: the return of every round's evaluation episode against the seconds its model was
  fitted on (thin: seeds; thick: median over the seeds at that amount), and the share of
  seeds that had succeeded by then;
* every round, and the settings every kind shared.
"""

from __future__ import annotations

import json
import math
import os
import statistics
from pathlib import Path
from typing import Any

from hybridwm.reports.blocks import Cell, Code, Figure, Note, Paragraph, Report, Section, Table
from hybridwm.reports.plots import _figure, _style, model_color, to_png
from hybridwm.reports.render import write_report
from hybridwm.reports.summary import fmt
from hybridwm.schemas import LearningRoundRow, LearningRun

__all__ = ["build_learning_report", "first_successes", "render_learning_report"]


def _rounds(run: LearningRun, kind: str, seed: int) -> list[LearningRoundRow]:
    rows = [r for r in run.rounds if r.kind == kind and r.seed == seed]
    return sorted(rows, key=lambda r: r.round)


def first_successes(run: LearningRun) -> dict[str, dict[int, float]]:
    """Per kind and seed: the interaction seconds of the first successful round, or ``inf``
    when no round succeeded (seeds without any round are left out)."""
    out: dict[str, dict[int, float]] = {}
    for kind in run.kinds:
        out[kind] = {}
        for seed in run.seeds:
            rows = _rounds(run, kind, seed)
            if rows:
                hits = [r.interaction_seconds for r in rows if r.success]
                out[kind][seed] = min(hits) if hits else math.inf
    return out


def _tried(run: LearningRun, kind: str) -> float:
    """The most interaction any seed of ``kind`` was given."""
    return max((r.interaction_seconds for r in run.rounds if r.kind == kind), default=math.nan)


def _seconds(value: float, bound: bool) -> str:
    return f"> {fmt(value)} s" if bound else f"{fmt(value)} s"


def _median(values: list[float], tried: float) -> tuple[float, bool]:
    """The median first success over seeds, and whether it is only a lower bound: a seed that
    never succeeded counts as needing ``tried`` (the most it was given), and the median is a
    bound when such a seed is among its middle values."""
    if not values:
        return math.nan, False
    ordered = sorted(values)
    middle = ordered[(len(ordered) - 1) // 2 : len(ordered) // 2 + 1]
    bound = any(math.isinf(v) for v in middle)
    return statistics.median(min(v, tried) for v in values), bound


def _kind_summary(run: LearningRun) -> dict[str, dict[str, Any]]:
    firsts = first_successes(run)
    out: dict[str, dict[str, Any]] = {}
    for kind, by_seed in firsts.items():
        values = list(by_seed.values())
        tried = _tried(run, kind)
        median, bound = _median(values, tried)
        out[kind] = {
            "seeds": len(values),
            "succeeded": sum(math.isfinite(v) for v in values),
            "median_first_success_s": median,
            "median_is_lower_bound": bound,
            "most_tried_s": tried,
            "first_success_s": {str(s): v for s, v in by_seed.items()},
        }
    return out


def _ratio(value: float, bound: bool, ref: float, ref_bound: bool) -> str:
    """``value / ref`` as text; a bound when either median is one."""
    if bound and ref_bound:
        return "n/a (both medians are bounds)"
    if bound:
        return f"> {fmt(value / ref)}"
    if ref_bound:
        return f"< {fmt(value / ref)}"
    return fmt(value / ref)


def _summary_table(run: LearningRun, summary: dict[str, dict[str, Any]]) -> Table:
    reference = "hybrid" if "hybrid" in run.kinds else run.kinds[0]
    ref = summary[reference]
    rows = []
    for kind in run.kinds:
        s = summary[kind]
        finite = [v for v in s["first_success_s"].values() if math.isfinite(v)]
        spread = f"{fmt(min(finite))}-{fmt(max(finite))} s" if finite else "-"
        median, bound = s["median_first_success_s"], s["median_is_lower_bound"]
        ratio = _ratio(median, bound, ref["median_first_success_s"], ref["median_is_lower_bound"])
        rows.append(
            [
                Cell(kind, bold=kind == reference),
                Cell(f"{s['succeeded']}/{s['seeds']}"),
                Cell(_seconds(median, bound)),
                Cell(spread),
                Cell(fmt(s["most_tried_s"])),
                Cell(ratio),
            ]
        )
    return Table(
        headers=[
            "kind",
            "seeds succeeded",
            "median interaction to success",
            "range (succeeded)",
            "most tried (s)",
            f"median / {reference}'s",
        ],
        rows=rows,
        caption=(
            "Seconds of real data the model of the first successful evaluation episode was "
            "fitted on. A seed that never succeeded counts as needing more than the most it was "
            "given (>)."
        ),
    )


def _curves_figure(run: LearningRun) -> Figure:
    fig = _figure(10.0, 3.6)
    ax_ret, ax_succ = fig.subplots(1, 2)
    firsts = first_successes(run)
    grid = sorted({r.interaction_seconds for r in run.rounds})
    for i, (kind, marker) in enumerate(zip(run.kinds, "osd^v<>", strict=False)):
        color = model_color(kind, run.kinds)
        wide = 1.5 * (len(run.kinds) - 1 - i)  # earlier kinds drawn wider: equal curves show
        by_round: dict[int, list[LearningRoundRow]] = {}
        for seed in run.seeds:
            rows = _rounds(run, kind, seed)
            xs = [r.interaction_seconds for r in rows]
            ax_ret.plot(xs, [r.total_return for r in rows], color=color, alpha=0.3, lw=0.8)
            for r in rows:
                by_round.setdefault(r.round, []).append(r)
        # one median point per round (seeds' data differ slightly when an episode ended early)
        rounds = [by_round[i] for i in sorted(by_round)]
        ax_ret.plot(
            [statistics.median(r.interaction_seconds for r in rs) for rs in rounds],
            [statistics.median(r.total_return for r in rs) for rs in rounds],
            color=color, lw=2.2 + wide, marker=marker, ms=5 + 2 * wide, label=kind,
        )  # fmt: skip
        hits = list(firsts[kind].values())
        share = [sum(v <= x for v in hits) / max(len(hits), 1) for x in grid]
        ax_succ.step(grid, share, where="post", color=color, lw=2.0 + wide)
    ax_ret.set(xlabel="real interaction (s)", ylabel="return of the evaluation episode")
    ax_succ.set(
        xlabel="real interaction (s)", ylabel="share of seeds succeeded", ylim=(-0.03, 1.03)
    )
    for ax in (ax_ret, ax_succ):
        _style(ax)
    ax_ret.legend(frameon=False, fontsize=8, loc="lower right")
    return Figure(
        key="learning_curves",
        title="Return and success against real interaction",
        caption=(
            "Left: every round's evaluation return (thin: one seed; thick: median over the seeds "
            "of each round; a kind that stopped at its first success has few points). Right: "
            "the share of seeds whose evaluation had succeeded by then."
        ),
        png=to_png(fig),
    )


def _rounds_table(run: LearningRun) -> Table:
    rows = [
        [
            Cell(r.kind),
            Cell(str(r.seed)),
            Cell(str(r.round)),
            Cell(fmt(r.interaction_seconds)),
            Cell("yes" if r.success else "no", bold=r.success),
            Cell(fmt(r.total_return)),
            Cell(fmt(r.final_goal_error)),
        ]
        for kind in run.kinds
        for seed in run.seeds
        for r in _rounds(run, kind, seed)
    ]
    headers = ["kind", "seed", "round", "data (s)", "success", "return", "final goal error"]
    return Table(headers=headers, rows=rows, caption="Every round's evaluation episode.")


def build_learning_report(run: LearningRun) -> Report:
    """The report's content (see the module docstring)."""
    summary = _kind_summary(run)
    settings = run.settings
    intro = Paragraph(
        f"Task {run.task}: {', '.join(run.kinds)} models over seeds {run.seeds}. Each seed "
        f"starts from {settings.get('random_seconds', '?')} s of random actions; each round fits "
        f"a fresh model on all real data ({settings.get('fit_steps', '?')} optimizer steps, the "
        f"same for every kind), scores it in one evaluation episode of the planner on the real "
        f"system (not added to the data), then collects {settings.get('collect_seconds', '?')} s "
        f"more with the planner."
    )
    sections = [
        Section("summary", "Interaction to success", [intro, _summary_table(run, summary)]),
        Section("curves", "Curves", [_curves_figure(run)]),
        Section("rounds", "Rounds", [_rounds_table(run)]),
        Section(
            "settings",
            "Settings",
            [
                Note("Every kind ran with these settings and this planner."),
                Code(json.dumps({"loop": settings, "planner": run.planner}, indent=2)),
            ],
        ),
    ]
    return Report(
        title=f"Learning to control: {run.task}",
        subtitle="Return and success against seconds of real interaction, per model kind",
        sections=sections,
        summary={"task": run.task, "kinds": summary},
    )


def render_learning_report(
    run_dir: str | os.PathLike[str], *, out_dir: str | os.PathLike[str] | None = None
) -> dict[str, Path]:
    """Write ``report.html``, ``report.md``, ``summary.json`` and ``figures/*.png`` for a
    learning-loop run directory.

    Args:
        run_dir: a directory holding ``learning.json``.
        out_dir: where to write; defaults to ``run_dir``.

    Returns:
        ``{"html": ..., "markdown": ..., "summary": ..., "figures": <figures folder>}``.

    Raises:
        FormatError: ``learning.json`` is missing or malformed (naming the field and the fix).
        OutputError: a file cannot be written.
    """
    run = LearningRun.read(Path(run_dir) / "learning.json")
    out = Path(out_dir) if out_dir is not None else Path(run_dir)
    return write_report(build_learning_report(run), out)
