"""``hybridwm systems`` and ``hybridwm simulate``: the ground-truth systems and their data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from hybridwm.cli.entry import console
from hybridwm.cli.flags import build_config, config_flags
from hybridwm.data import write_trajectories
from hybridwm.systems import SimulateConfig, get_system, list_scenarios, list_systems
from hybridwm.systems import simulate as run_simulate

__all__ = ["simulate", "systems"]


def systems(
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """List the ground-truth systems with their states, actions, parameters and scenarios."""
    rows = []
    for name in list_systems():
        s = get_system(name)
        rows.append(
            {
                "name": name,
                "description": s.description,
                "states": list(s.state_names),
                "actions": list(s.action_names),
                "action_bounds": s.action_bounds.tolist(),
                "parameters": s.parameters,
                "scenarios": list_scenarios(name),
            }
        )
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
    """Simulate ground-truth trajectories with MuJoCo and write them to a file."""
    cfg = build_config(SimulateConfig, config, settings)
    data = run_simulate(cfg)
    path = write_trajectories(data, out)
    console.print(
        f"Wrote {len(data)} trajectories × {int(data.lengths[0])} samples of [bold]{cfg.system}"
        f"[/bold] ({cfg.scenario}, seed {cfg.seed}) to [green]{path}[/green]"
    )
    console.print(data.summary().round(4).to_string())
