"""The ``hybridwm`` command line: one command per pipeline step.

The CLI is thin: it parses flags into the step's config dataclass, calls the public API and
prints. Library errors (:class:`~hybridwm.errors.HybridWMError`) are shown as one red message and
exit with status 2, without a traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from hybridwm.errors import ConfigError, HybridWMError

app = typer.Typer(
    name="hybridwm",
    help="Hybrid physics-informed world models: simulate, discover, fit, roll out, evaluate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)


def parse_params(items: list[str] | None) -> dict[str, float]:
    """Parse ``["mass=1.2", "damping=0.3"]`` into ``{"mass": 1.2, "damping": 0.3}``.

    Raises:
        ConfigError: if an item is not ``NAME=NUMBER``.
    """
    out: dict[str, float] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"`--param` must look like NAME=VALUE (e.g. mass=1.2). Got {item!r}.")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise ConfigError(
                f"`--param {name.strip()}` must be a number. Got {value!r} in {item!r}."
            ) from None
    return out


def _split_names(values: list[str] | None) -> list[str] | None:
    """Accept both ``--angles a --angles b`` and ``--angles a,b``."""
    if not values:
        return None
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


# ---------------------------------------------------------------------------------- systems
@app.command()
def systems(
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """List the ground-truth systems with their states, actions, parameters and scenarios."""
    from hybridwm.systems import get_system, list_scenarios, list_systems

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
            f"{a} [{lo:g}, {hi:g}]" for a, (lo, hi) in zip(r["actions"], r["action_bounds"], strict=True)
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


# ---------------------------------------------------------------------------------- simulate
@app.command()
def simulate(
    out: Annotated[Path, typer.Option(help="Output file (.parquet, .csv or .npz).")],
    system: Annotated[str, typer.Option(help="System name (see `hybridwm systems`).")] = "pendulum",
    scenario: Annotated[str, typer.Option(help="Scenario of the system.")] = "train",
    n_trajectories: Annotated[
        int | None, typer.Option(help="Number of trajectories [default: the scenario's].")
    ] = None,
    duration: Annotated[
        float | None, typer.Option(help="Seconds per trajectory [default: the scenario's].")
    ] = None,
    dt: Annotated[
        float | None, typer.Option(help="Sample/control period in s [default: the scenario's].")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same file).")] = 0,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", help="Parameter override NAME=VALUE; repeatable."),
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="TOML/JSON SimulateConfig; flags given override it.")
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Simulate ground-truth trajectories with MuJoCo and write them to a file."""
    from hybridwm.data import write_trajectories
    from hybridwm.systems import SimulateConfig
    from hybridwm.systems import simulate as run_simulate

    base: dict[str, Any] = SimulateConfig.from_file(config).to_dict() if config else {}
    base.update(system=system, scenario=scenario, seed=seed, progress=progress)
    for key, value in (("n_trajectories", n_trajectories), ("duration", duration), ("dt", dt)):
        if value is not None:
            base[key] = value
    params = parse_params(param)
    if params:
        base["params"] = {**base.get("params", {}), **params}
    cfg = SimulateConfig.from_dict(base)
    data = run_simulate(cfg)
    path = write_trajectories(data, out)
    console.print(
        f"Wrote {len(data)} trajectories × {int(data.lengths[0])} samples of [bold]{cfg.system}"
        f"[/bold] ({cfg.scenario}, seed {cfg.seed}) to [green]{path}[/green]"
    )
    console.print(data.summary().round(4).to_string())


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``hybridwm`` script: run the app, turn library errors into messages.

    Args:
        argv: Arguments without the program name; ``None`` reads ``sys.argv``.
    """
    try:
        rc = app(args=argv, standalone_mode=False, prog_name="hybridwm")
    except HybridWMError as exc:
        err_console.print(f"[bold red]Error:[/bold red] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("[yellow]Interrupted.[/yellow]")
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err_console.print("Aborted.")
        sys.exit(1)
    except Exception as exc:
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
    if isinstance(rc, int) and rc:
        sys.exit(rc)


if __name__ == "__main__":  # pragma: no cover
    main()
