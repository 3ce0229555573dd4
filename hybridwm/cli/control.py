"""``hybridwm control``: plan in a model (or the MuJoCo oracle), act on the ground truth."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from hybridwm.cli.entry import console
from hybridwm.cli.flags import build_config, config_flags, parse_params
from hybridwm.cli.rollout import checked_device
from hybridwm.control import PlannerConfig, get_task, list_tasks
from hybridwm.control.records import timing_summary
from hybridwm.control.runner import control as run_control

__all__ = ["control"]


@config_flags(PlannerConfig, panel="Planner (PlannerConfig)")
def control(
    task: Annotated[str, typer.Option(help=f"The task: one of {', '.join(list_tasks())}.")],
    model: Annotated[
        str,
        typer.Option(
            help="Run directory of a fitted model (hybridwm fit) or ensemble "
            "(WorldModelEnsemble.save), or 'oracle' (MuJoCo itself)."
        ),
    ],
    out: Annotated[Path, typer.Option(help="Run directory to write the episode to.")],
    seconds: Annotated[
        float | None, typer.Option(help="Episode length in seconds (default: the task's).")
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(help="Real system parameter NAME=VALUE (repeatable), e.g. pole_mass=0.13."),
    ] = None,
    device: Annotated[
        str | None, typer.Option(help="Torch device of model and planner (default: cpu).")
    ] = None,
    oracle_timestep: Annotated[
        float | None,
        typer.Option(help="MuJoCo step of the oracle's rollouts (default: the task's dt)."),
    ] = None,
    float32: Annotated[
        bool, typer.Option(help="Plan with a float32 copy of the model (faster on CPU).")
    ] = False,
    compile: Annotated[
        bool,
        typer.Option(
            help="Compile the model's solve per control period (torch.compile; the first "
            "planner call compiles, later ones run faster)."
        ),
    ] = False,
    animation: Annotated[
        bool, typer.Option(help="Render animation.gif (MuJoCo offscreen, headless).")
    ] = True,
    config: Annotated[
        Path | None, typer.Option(help="TOML/YAML/JSON PlannerConfig; flags given override it.")
    ] = None,
    *,
    settings: dict[str, Any],
) -> None:
    """Run a planner (MPPI or iCEM) in closed loop on a task's MuJoCo system and write the
    executed trajectory, return, success, planner timings, a plot and an animation."""
    cfg = build_config(PlannerConfig, config, settings)
    spec = get_task(task)
    episode = run_control(
        spec,
        model,
        planner=cfg,
        seconds=seconds,
        parameters=parse_params(param),
        device=checked_device(device) if device is not None else None,
        oracle_timestep=oracle_timestep,
        float32=float32,
        compile=compile,
        out=out,
        animation=animation,
    )
    timing = timing_summary(episode.plan_seconds)
    verdict = "[green]success[/green]" if episode.success else "[red]no success[/red]"
    console.print(
        f"{escape(spec.name)} with {escape(episode.model)} ({cfg.method}, {cfg.samples} samples): "
        f"return {episode.total_return:.2f}, {verdict}"
        + (" (terminated)" if episode.terminated else "")
        + f"; planner {1000 * timing.get('median_s', 0.0):.1f} ms/step median "
        f"({timing.get('median_rate_hz', 0.0):.1f} Hz; mean {1000 * timing.get('mean_s', 0.0):.1f}"
        f" ms, first call {timing.get('first_s', 0.0):.2f} s). "
        f"Wrote [green]{escape(str(out))}[/green]"
    )
