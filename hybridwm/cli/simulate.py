"""``hybridwm systems`` and ``hybridwm simulate``: the ground-truth systems and their data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from hybridwm.cli.entry import console
from hybridwm.cli.flags import build_config, config_flags
from hybridwm.data import TrajectorySet, decode_events, write_trajectories
from hybridwm.systems import (
    MJCF_SCENARIOS,
    SimulateConfig,
    get_system,
    list_scenarios,
    list_systems,
    load_mjcf,
)
from hybridwm.systems import simulate as run_simulate

__all__ = ["simulate", "systems"]


def systems(
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
    mjcf: Annotated[
        Path | None,
        typer.Option(help="Show your own MuJoCo model (MJCF) instead: its names and parameters."),
    ] = None,
) -> None:
    """List the ground-truth systems with their states, actions, parameters and scenarios."""
    if mjcf is None:
        found = [(get_system(name), list_scenarios(name)) for name in list_systems()]
    else:
        found = [(load_mjcf(mjcf), list(MJCF_SCENARIOS))]
    rows = [
        {
            "name": s.name,
            "description": s.description,
            "states": list(s.state_names),
            "actions": list(s.action_names),
            "action_bounds": s.action_bounds.tolist(),
            "parameters": s.parameters,
            "scenarios": scenarios,
        }
        for s, scenarios in found
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="hybridwm systems", show_lines=True)
    for col in ("system", "states", "actions (bounds)", "parameters", "scenarios"):
        table.add_column(col, overflow="fold")
    for r in rows:
        acts = ", ".join(
            f"{a} [{lo:g}, {hi:g}]"
            for a, (lo, hi) in zip(r["actions"], r["action_bounds"], strict=True)
        )
        params = "\n".join(f"{k} = {v:g}" for k, v in r["parameters"].items())
        table.add_row(
            f"[bold]{r['name']}[/bold]\n{r['description']}",
            ", ".join(r["states"]),
            acts,
            params,
            "\n".join(r["scenarios"]),
        )
    console.print(table)


@config_flags(
    SimulateConfig,
    panel="Simulation (SimulateConfig)",
    decls={"params": ["--param"]},
    defaults={"progress": True},
)
def simulate(
    out: Annotated[Path, typer.Option(help="Output file (.parquet, .csv or .npz).")],
    config: Annotated[
        Path | None, typer.Option(help="TOML/YAML/JSON SimulateConfig; flags given override it.")
    ] = None,
    *,
    settings: dict[str, Any],
) -> None:
    """Simulate ground-truth trajectories with MuJoCo and write them to a file.

    A shipped system (``--system cartpole``) or your own MuJoCo model (``--mjcf robot.xml``):
    its joints' positions and velocities are the states, its actuators the actions, and each
    sample records whether a joint limit or a contact acts (``at_limit``, ``in_contact``; mask
    them in ``hybridwm discover --mask "not at_limit"``).
    """
    cfg = build_config(SimulateConfig, config, settings)
    data = run_simulate(cfg)
    path = write_trajectories(data, out)
    system = data[0].meta["system"]
    console.print(
        f"Wrote {len(data)} trajectories × {int(data.lengths[0])} samples of [bold]{system}"
        f"[/bold] ({cfg.scenario}, seed {cfg.seed}) to [green]{path}[/green]"
    )
    console.print(data.summary().round(4).to_string())
    _print_events(data)


def _print_events(data: TrajectorySet) -> None:
    """How many samples each recorded event touches (MJCF models record them)."""
    counts: dict[str, list[int]] = {}
    for tr in data:
        for name, flags in decode_events(tr).items():
            counts.setdefault(name, [0, 0])
            counts[name][0] += int(flags.sum())
            counts[name][1] += int(flags.any())
    for name, (rows, episodes) in counts.items():
        console.print(
            f"{name}: {rows} of {data.n_samples} samples in {episodes} of {len(data)} episodes"
        )
