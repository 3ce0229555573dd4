"""``hybridwm discover``: sparse equations (SINDy with controls) from trajectories."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from hybridwm.cli.entry import console
from hybridwm.cli.flags import build_config, config_flags
from hybridwm.cli.reading import DataOpt, DataOptions, data_flags
from hybridwm.physics import DiscoverConfig, PhysicsModel
from hybridwm.physics import discover as run_discover

__all__ = ["discover"]


@config_flags(
    DiscoverConfig,
    panel="Discovery (DiscoverConfig)",
    decls={"features": ["--features", "--feature"]},
)
@data_flags
def discover(
    data: DataOpt,
    out: Annotated[Path, typer.Option(help="Where to write the equations (physics JSON).")],
    config: Annotated[
        Path | None, typer.Option(help="TOML/YAML/JSON DiscoverConfig; flags given override it.")
    ] = None,
    latex: Annotated[bool, typer.Option(help="Also print the equations as LaTeX.")] = False,
    *,
    reading: DataOptions,
    settings: dict[str, Any],
) -> None:
    """Discover sparse equations (SINDy with controls) from trajectories and save them as JSON."""
    cfg = build_config(DiscoverConfig, config, settings)
    ts = reading.read(data)
    model = run_discover(ts, config=cfg)
    path = model.save(out)
    console.print(f"[bold]Discovered equations[/bold] ({model.n_terms} terms, {len(ts)} episodes):")
    for eq in model.equations():
        console.print(f"  {eq}", highlight=False)
    _print_ensemble(model)
    if "rational" in model.info:
        rat = model.info["rational"]
        console.print(
            f"Denominator of d({'), d('.join(rat['rational_states'])})/dt: "
            f"{rat['denominator'].replace('**', '^')}",
            highlight=False,
        )
    console.print(f"R² of derivatives on the data: {model.score(ts):.6f}")
    if latex:
        console.print(model.to_latex(), highlight=False)
    console.print(f"Wrote [green]{path}[/green]")


def _print_ensemble(model: PhysicsModel) -> None:
    """The bagged coefficients (mean ± std, inclusion probability) of an ensemble model."""
    if model.coef_std is None:
        return
    console.print("\n[bold]Ensemble[/bold] (mean ± std, inclusion probability):")
    mean, std, inc = model.coef_mean, model.coef_std, model.inclusion_probability
    for eq in mean.index:
        terms = [
            f"{mean.loc[eq, f]:+.4g}±{std.loc[eq, f]:.2g} {f} (p={inc.loc[eq, f]:.2f})"
            for f in mean.columns
            if inc.loc[eq, f] > 0
        ]
        console.print(f"  {eq}: " + ", ".join(terms), highlight=False)
