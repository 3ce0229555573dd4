"""``hybridwm learn``: the model-based learning loop over model kinds and seeds, with its report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from hybridwm.cli.entry import console
from hybridwm.cli.flags import build_config, config_flags
from hybridwm.control import LearningConfig, PlannerConfig, get_task, list_tasks
from hybridwm.control.learning_run import KINDS, run_learning, write_learning_run
from hybridwm.errors import ConfigError
from hybridwm.physics import load_prior
from hybridwm.reports import render_learning_report

__all__ = ["learn"]

#: the loop's settings the command sets (kind and seed come from --kind and --seed)
_LOOP_FIELDS = {
    k: v for k, v in LearningConfig.model_fields.items() if k not in ("kind", "seed", "horizon")
}
_PLANNER_FIELDS = {k: v for k, v in PlannerConfig.model_fields.items() if k != "seed"}


@config_flags(PlannerConfig, panel="Planner (PlannerConfig)", fields=_PLANNER_FIELDS)
@config_flags(
    LearningConfig, panel="Loop (LearningConfig)", fields=_LOOP_FIELDS, into="loop_settings"
)
def learn(
    task: Annotated[str, typer.Option(help=f"The task: one of {', '.join(list_tasks())}.")],
    out: Annotated[Path, typer.Option(help="Run directory: learning.json and the report.")],
    kinds: Annotated[
        list[str] | None,
        typer.Option("--kind", help=f"Model kind (repeatable): {', '.join(KINDS)}."),
    ] = None,
    seeds: Annotated[list[int] | None, typer.Option("--seed", help="Seed (repeatable).")] = None,
    prior: Annotated[
        Path | None,
        typer.Option(help="Declared physics (TOML) of the physics and hybrid kinds."),
    ] = None,
    window: Annotated[
        int, typer.Option(help="Training window length in samples (LearningConfig.horizon).")
    ] = 10,
    oracle: Annotated[
        bool,
        typer.Option(help="Add the reference: the same planner over MuJoCo itself, per seed."),
    ] = True,
    report: Annotated[bool, typer.Option(help="Render report.html when done.")] = True,
    *,
    settings: dict[str, Any],
    loop_settings: dict[str, Any],
) -> None:
    """Start every kind and seed from the same seconds of random actions, then fit, evaluate
    (one planner episode on the MuJoCo system) and collect more, round after round; write
    learning.json and a report of return and success against seconds of real interaction.
    With --shift NAME=FACTOR the real system then changes and the loop goes on there: the
    unchanged model is scored, then collect and adapt until it succeeds again."""
    kinds = kinds or ["hybrid", "learned"]
    seeds = seeds or [0, 1, 2, 3, 4]
    needs = sorted(set(kinds) & {"physics", "hybrid"})
    if prior is None and needs:
        raise ConfigError(
            f"--prior TOML is needed for the kinds {needs} (their declared physics); or run "
            f"only --kind learned."
        )
    spec = get_task(task)
    planner = build_config(PlannerConfig, None, settings)
    # run_learning sets each run's kind and seed (and checks --kind)
    loop = LearningConfig.from_dict({**loop_settings, "kind": "learned", "horizon": window})
    physics = load_prior(prior) if prior is not None else None

    def shown(kind: str, seed: int, r: Any) -> None:
        verdict = "[green]success[/green]" if r.success else "no success"
        after = f" ({r.new_seconds:.2f} s after the change)" if r.phase == "shifted" else ""
        console.print(
            f"{escape(kind)} seed {seed} round {r.round}: {r.interaction_seconds:.2f} s of data"
            f"{after}, {verdict}, return {r.total_return:.1f}"
        )

    run = run_learning(
        spec, kinds, seeds, loop, planner, prior=physics, on_round=shown, oracle=oracle
    )
    for e in run.oracle:
        verdict = "[green]success[/green]" if e.success else "no success"
        console.print(f"oracle seed {e.seed} ({e.phase} system): {verdict}")
    path = write_learning_run(out, run)
    console.print(f"Wrote [green]{escape(str(path))}[/green]")
    if report:
        files = render_learning_report(out)
        console.print(f"Report: [green]{escape(str(files['html']))}[/green]")
