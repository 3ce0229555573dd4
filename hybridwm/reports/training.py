"""The report's Training section: what every training run did (optimizer steps, why it
stopped, the best epoch), whether the wall-clock safety cap cut one, and how the physics and
the residual share the fitted vector field.

Built from ``results.json``'s ``training`` rows and its ``residual_share`` metric; a run
written before they existed has no such section.
"""

from __future__ import annotations

import pandas as pd

from hybridwm.reports.blocks import Block, Cell, Note, Paragraph, Section, Table
from hybridwm.reports.rundir import RunData
from hybridwm.reports.summary import MAX_TIME, fmt, int_span
from hybridwm.reports.tables import NO_VALUE, mean_std
from hybridwm.schemas import ADAPTED_SUFFIX, FIT_SCENARIO, TrainingRow

__all__ = ["physics_table", "training_section", "training_table"]

RESIDUAL_SHARE = "residual_share"


def _stage_label(scenario: str) -> str:
    """``"fit"`` for the training run of scenario ``train``, ``"adapt to X"`` for ``X-adapted``."""
    if scenario == FIT_SCENARIO:
        return "fit"
    return f"adapt to {scenario.removesuffix(ADAPTED_SUFFIX)}"


def _cells(rows: list[TrainingRow]) -> list[Cell]:
    """Steps, stop reason(s) and best epoch of one model's runs of one stage, over seeds."""
    if not rows:
        return [Cell(NO_VALUE)] * 3
    reasons = ", ".join(dict.fromkeys(r.stop_reason or "–" for r in rows))
    return [
        Cell(int_span([r.steps for r in rows])),
        Cell(reasons, bold=MAX_TIME in reasons),
        Cell(int_span([r.best_epoch for r in rows])),
    ]


def training_table(run: RunData) -> Table | None:
    """Per system and model: optimizer steps, stop reason and best epoch of the fit and of
    each adaptation (over seeds: one value, or the range); None without training rows."""
    if not run.training:
        return None
    stages = list(dict.fromkeys(r.scenario for r in run.training))
    stages.sort(key=lambda sc: sc != FIT_SCENARIO)
    runs: dict[tuple[str, str, str], list[TrainingRow]] = {}
    for r in run.training:
        runs.setdefault((r.system, r.model, r.scenario), []).append(r)
    systems = [s for s in run.systems if any(k[0] == s for k in runs)]
    rows = [
        [Cell(system), Cell(model)]
        + [c for sc in stages for c in _cells(runs.get((system, model, sc), []))]
        for system in systems
        for model in run.models
        if any((system, model, sc) in runs for sc in stages)
    ]
    headers = [
        f"{_stage_label(sc)} {what}" for sc in stages for what in ("steps", "stop", "best epoch")
    ]
    return Table(
        ["system", "model", *headers],
        rows,
        "Optimizer steps of each training run, why it stopped (steps/epochs: the budget was "
        "spent; patience: early stopping; max_time, in bold: the wall-clock safety cap; "
        "nothing to train: physics used as discovered) and the epoch whose weights were kept "
        "(0: the initial ones). One value where every seed agrees, else the range.",
        title="Training runs",
        css="text",
    )


def _physics_moved(rows: list[TrainingRow]) -> tuple[Cell, Cell]:
    """Mean largest relative change of a physics coefficient over seeds, and its term."""
    moved = [r for r in rows if r.physics_change is not None]
    if not moved:
        return Cell(NO_VALUE), Cell(NO_VALUE)
    mean = sum(float(r.physics_change or 0.0) for r in moved) / len(moved)
    terms = ", ".join(dict.fromkeys(r.physics_change_term for r in moved if r.physics_change_term))
    return Cell(fmt(mean)), Cell(terms or NO_VALUE)


def physics_table(run: RunData, agg: pd.DataFrame) -> Table | None:
    """Per system and model with physics: how far the physics moved in the fit (the largest
    relative change of a coefficient or parameter from the discovered one) and the residual's
    share of the vector field on each scenario's true states; None when the run recorded
    neither."""
    shares = agg[agg["metric"] == RESIDUAL_SHARE]
    fits = [r for r in run.training if r.scenario == FIT_SCENARIO and r.physics_change is not None]
    if shares.empty and not fits:
        return None
    scenarios = [sc for sc in run.scenarios if sc in set(shares["scenario"])]
    cells = {(r.system, r.model, r.scenario): r for r in shares.itertuples()}
    keys = {(r.system, r.model) for r in fits} | {(r.system, r.model) for r in shares.itertuples()}
    rows = []
    for system in (s for s in run.systems if any(k[0] == s for k in keys)):
        for model in (m for m in run.models if (system, m) in keys):
            mine = [r for r in fits if (r.system, r.model) == (system, model)]
            share = [cells.get((system, model, sc)) for sc in scenarios]
            rows.append(
                [Cell(system), Cell(model), *_physics_moved(mine)]
                + [Cell(NO_VALUE) if c is None else Cell(mean_std(c.mean, c.std)) for c in share]
            )
    return Table(
        ["system", "model", "physics moved", "most moved term", *scenarios],
        rows,
        "Physics moved: the largest relative change |fitted − discovered| / |discovered| of a "
        "physics coefficient (or declared parameter) during the fit, mean over seeds (0: the "
        "physics was kept as discovered). Scenario columns: the residual's share of the vector "
        "field on the scenario's true states, RMS(residual) / RMS(physics + residual) per "
        "state, averaged over states, mean ± std over seeds (0: the physics does all the work).",
        title="Physics and residual",
        css="text",
    )


def training_section(run: RunData, agg: pd.DataFrame) -> Section | None:
    """Training: steps per model and run, the max_time caveat, the physics and residual
    table; None when the run recorded none of them."""
    tables = [t for t in (training_table(run), physics_table(run, agg)) if t is not None]
    if not tables:
        return None
    blocks: list[Block] = [
        Paragraph(
            "Budgets are counted in optimizer steps, so every kind gets the same training "
            "whatever the machine's speed and load; these numbers are part of results.json."
        )
    ]
    cut = [r for r in run.training if r.stop_reason == MAX_TIME]
    if cut:
        blocks.append(
            Note(
                f"Budget cut by max_time: results depend on machine speed. The wall-clock "
                f"safety cap stopped {len(cut)} training run(s) (stop = max_time below); "
                f"raise train.max_time or lower the step budget to compare like with like."
            )
        )
    return Section("training", "Training", [*blocks, *tables])
