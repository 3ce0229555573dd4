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
* the reference row when the run holds it: the same planner over MuJoCo itself (the oracle,
  which needs no data);
* after a parameter shift (``LearningConfig.shift``): per kind, how the unchanged model did on
  the changed system, the new data each seed needed to succeed again (bounds as above) and its
  curve, beside the oracle on the changed system;
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


def _rounds(
    run: LearningRun, kind: str, seed: int, phase: str = "nominal"
) -> list[LearningRoundRow]:
    rows = [r for r in run.rounds if r.kind == kind and r.seed == seed and r.phase == phase]
    return sorted(rows, key=lambda r: r.round)


def _data(row: LearningRoundRow) -> float:
    """A round's data on the x axis: all real seconds (nominal), the new ones (shifted)."""
    return row.interaction_seconds if row.phase == "nominal" else row.new_seconds


def first_successes(run: LearningRun, phase: str = "nominal") -> dict[str, dict[int, float]]:
    """Per kind and seed: the data of the first successful round of ``phase``, or ``inf`` when
    none succeeded (seeds without any round of ``phase`` are left out). The data is the
    interaction seconds for ``"nominal"``, the seconds recorded after the change for
    ``"shifted"``."""
    out: dict[str, dict[int, float]] = {}
    for kind in run.kinds:
        out[kind] = {}
        for seed in run.seeds:
            rows = _rounds(run, kind, seed, phase)
            if rows:
                hits = [_data(r) for r in rows if r.success]
                out[kind][seed] = min(hits) if hits else math.inf
    return out


def _tried(run: LearningRun, kind: str, phase: str = "nominal") -> float:
    """The most data any seed of ``kind`` was given in ``phase``."""
    rows = [r for r in run.rounds if r.kind == kind and r.phase == phase]
    return max((_data(r) for r in rows), default=math.nan)


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


def _kind_summary(run: LearningRun, phase: str = "nominal") -> dict[str, dict[str, Any]]:
    firsts = first_successes(run, phase)
    out: dict[str, dict[str, Any]] = {}
    for kind, by_seed in firsts.items():
        values = list(by_seed.values())
        tried = _tried(run, kind, phase)
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
    if ref == 0:  # after a change the reference may have needed no new data at all
        return "n/a (reference needed 0 s)"
    if bound and ref_bound:
        return "n/a (both medians are bounds)"
    if bound:
        return f"> {fmt(value / ref)}"
    if ref_bound:
        return f"< {fmt(value / ref)}"
    return fmt(value / ref)


def _unchanged(run: LearningRun, kind: str) -> str:
    """How many seeds' unchanged models (the first shifted round) succeeded on the changed
    system."""
    firsts = [rows[0] for seed in run.seeds if (rows := _rounds(run, kind, seed, "shifted"))]
    return f"{sum(r.success for r in firsts)}/{len(firsts)}"


def _oracle_cells(run: LearningRun, phase: str) -> list[Cell] | None:
    episodes = [e for e in run.oracle if e.phase == phase]
    if not episodes:
        return None
    won = f"{sum(e.success for e in episodes)}/{len(episodes)}"
    head = [Cell("oracle (MuJoCo as model)"), Cell(won)]
    if phase == "shifted":  # the oracle knows the changed system: unchanged and "again" agree
        head.append(Cell(won))
    return [*head, Cell("needs no data"), Cell("-"), Cell("-"), Cell("-")]


def _summary_table(
    run: LearningRun, summary: dict[str, dict[str, Any]], phase: str = "nominal"
) -> Table:
    kinds = [k for k in run.kinds if summary[k]["seeds"]] or list(run.kinds)  # with rounds
    reference = "hybrid" if "hybrid" in kinds else kinds[0]
    ref = summary[reference]
    shifted = phase == "shifted"
    rows = []
    for kind in kinds:
        s = summary[kind]
        finite = [v for v in s["first_success_s"].values() if math.isfinite(v)]
        spread = f"{fmt(min(finite))}-{fmt(max(finite))} s" if finite else "-"
        median, bound = s["median_first_success_s"], s["median_is_lower_bound"]
        ratio = _ratio(median, bound, ref["median_first_success_s"], ref["median_is_lower_bound"])
        rows.append(
            [
                Cell(kind, bold=kind == reference),
                *([Cell(_unchanged(run, kind))] if shifted else []),
                Cell(f"{s['succeeded']}/{s['seeds']}"),
                Cell(_seconds(median, bound)),
                Cell(spread),
                Cell(fmt(s["most_tried_s"])),
                Cell(ratio),
            ]
        )
    oracle = _oracle_cells(run, phase)
    rows += [oracle] if oracle is not None else []
    what = "new data" if shifted else "interaction"
    headers = [
        "kind",
        "seeds succeeded",
        f"median {what} to success",
        "range (succeeded)",
        "most tried (s)",
        f"median / {reference}'s",
    ]
    if shifted:
        headers[1:2] = ["unchanged model succeeded", "seeds succeeded again"]
    caption = (
        "Seconds of real data the model of the first successful evaluation episode was fitted "
        "on. A seed that never succeeded counts as needing more than the most it was given (>)."
    )
    if shifted:
        caption = (
            "On the changed system. Unchanged: the last nominal model as it was. Then seconds "
            "of data recorded on the changed system that the model of the first successful "
            "evaluation was adapted on; a seed that never succeeded again counts as needing "
            "more than the most it was given (>)."
        )
    if oracle is not None:
        caption += " Oracle: the same planner over MuJoCo itself, one episode per seed."
    return Table(headers=headers, rows=rows, caption=caption)


def _curves_figure(run: LearningRun, phase: str = "nominal") -> Figure:
    fig = _figure(10.0, 3.6)
    ax_ret, ax_succ = fig.subplots(1, 2)
    firsts = first_successes(run, phase)
    grid = sorted({_data(r) for r in run.rounds if r.phase == phase})
    for i, (kind, marker) in enumerate(zip(run.kinds, "osd^v<>", strict=False)):
        color = model_color(kind, run.kinds)
        if kind not in firsts or not firsts[kind]:
            continue  # no rounds of this kind in ``phase``
        wide = 1.5 * (len(run.kinds) - 1 - i)  # earlier kinds drawn wider: equal curves show
        by_round: dict[int, list[LearningRoundRow]] = {}
        for seed in run.seeds:
            rows = _rounds(run, kind, seed, phase)
            xs = [_data(r) for r in rows]
            ax_ret.plot(xs, [r.total_return for r in rows], color=color, alpha=0.3, lw=0.8)
            for r in rows:
                by_round.setdefault(r.round, []).append(r)
        # one median point per round (seeds' data differ slightly when an episode ended early)
        rounds = [by_round[i] for i in sorted(by_round)]
        ax_ret.plot(
            [statistics.median(_data(r) for r in rs) for rs in rounds],
            [statistics.median(r.total_return for r in rs) for rs in rounds],
            color=color, lw=2.2 + wide, marker=marker, ms=5 + 2 * wide, label=kind,
        )  # fmt: skip
        hits = list(firsts[kind].values())
        share = [sum(v <= x for v in hits) / max(len(hits), 1) for x in grid]
        ax_succ.step(
            grid, share, where="post", color=color, lw=2.0 + wide, marker=marker, ms=5 + 2 * wide
        )
    what = "real interaction (s)" if phase == "nominal" else "data recorded after the change (s)"
    ax_ret.set(xlabel=what, ylabel="return of the evaluation episode")
    ax_succ.set(xlabel=what, ylabel="share of seeds succeeded", ylim=(-0.03, 1.03))
    for ax in (ax_ret, ax_succ):
        _style(ax)
        if len(grid) == 1:  # every round at one amount of data: a readable axis around it
            ax.set_xlim(grid[0] - 1.0, grid[0] + 1.0)
    if ax_ret.get_legend_handles_labels()[0]:  # a run without rounds draws no curve
        ax_ret.legend(frameon=False, fontsize=8, loc="lower right")
    if phase == "nominal":
        key, title = "learning_curves", "Return and success against real interaction"
    else:
        key, title = "shift_curves", "After the change: return and success against new data"
    return Figure(
        key=key,
        title=title,
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
            Cell(r.phase),
            Cell(fmt(r.interaction_seconds)),
            Cell(fmt(r.new_seconds) if r.phase == "shifted" else "-"),
            Cell("yes" if r.success else "no", bold=r.success),
            Cell(fmt(r.total_return)),
            Cell(fmt(r.final_goal_error)),
        ]
        for kind in run.kinds
        for seed in run.seeds
        for phase in ("nominal", "shifted")
        for r in _rounds(run, kind, seed, phase)
    ]
    headers = ["kind", "seed", "round", "system", "data (s)", "new data (s)", "success"]
    headers += ["return", "final goal error"]
    return Table(
        headers=headers,
        rows=rows,
        caption=(
            "Every round's evaluation episode. System: nominal, or shifted (after the change; "
            "new data: the seconds recorded on the changed system)."
        ),
    )


def _shift_section(run: LearningRun) -> tuple[Section, dict[str, Any]] | None:
    """The section after the change and its summary, or None when no round was shifted."""
    if not any(r.phase == "shifted" for r in run.rounds):
        return None
    summary = _kind_summary(run, "shifted")
    shift = run.settings.get("shift") or {}
    change = ", ".join(f"{name} x{fmt(factor)}" for name, factor in shift.items()) or "?"
    intro = Paragraph(
        f"After its nominal rounds the real system changed ({change}). Each seed's last nominal "
        f"model was first scored as it was; then each round collected "
        f"{run.settings.get('collect_seconds', '?')} s on the changed system with the planner "
        f"over the current model and adapted the last nominal model on all data recorded since "
        f"the change ({run.settings.get('adapt_steps', '?')} optimizer steps, WorldModel.adapt "
        f"with its default parts)."
    )
    blocks = [intro, _summary_table(run, summary, "shifted"), _curves_figure(run, "shifted")]
    kept = {kind: v for kind, v in summary.items() if v["seeds"]}
    return Section("shift", f"After the change ({change})", blocks), kept


def _oracle_summary(run: LearningRun) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for phase in ("nominal", "shifted"):
        episodes = [e for e in run.oracle if e.phase == phase]
        if episodes:
            out[phase] = {
                "seeds": len(episodes),
                "succeeded": sum(e.success for e in episodes),
                "returns": {str(e.seed): e.total_return for e in episodes},
            }
    return out


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
    shift = _shift_section(run)
    sections = [
        Section("summary", "Interaction to success", [intro, _summary_table(run, summary)]),
        Section("curves", "Curves", [_curves_figure(run)]),
        *([shift[0]] if shift is not None else []),
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
        summary={
            "task": run.task,
            "kinds": summary,
            "shifted": shift[1] if shift is not None else {},
            "oracle": _oracle_summary(run),
        },
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
