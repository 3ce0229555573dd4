"""``hybridwm discover``: sparse equations (SINDy with controls) from trajectories.

``--library rational`` is the rational path for mechanics with a configuration-dependent mass
matrix (``M(q)^-1`` makes the accelerations rational) under a name a user can find: it is
``--library none`` with the features, action products and denominator of a system whose states
are positions then velocities and whose inertia depends on one angle ``a`` (velocity ``w``):
the velocities, ``sin(a)`` and ``w^2*sin(a)``, each also times ``cos(a)``, actions times
``cos(a)``, over ``D(cos(a))``. ``--feature``, ``--action-products`` and ``--denominator``
replace the generated ones (needed with several angles: the mass matrix of a two-link arm
depends on ``cos(theta2)`` and its forces on ``sin(theta1 + theta2)``).

``--preset full`` starts from the discovery settings a benchmark preset gives the data's system
(``[discover.cartpole]`` of ``full.toml``: the rational features, ``order = 4``, ...); a
``--config`` file and the flags override them field by field, so every setting of a preset is
reachable and changeable from the command line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from hybridwm.cli.entry import console
from hybridwm.cli.flags import build_config, config_flags
from hybridwm.cli.reading import DataOpt, DataOptions, MaskOptions, data_flags, mask_flags
from hybridwm.config import load_mapping
from hybridwm.data import TrajectorySet
from hybridwm.errors import ConfigError
from hybridwm.evaluation import load_preset
from hybridwm.evaluation.coefficients import coefficient_view
from hybridwm.physics import DiscoverConfig, PhysicsModel, format_selection
from hybridwm.physics import discover as run_discover
from hybridwm.physics.derivatives import DIFFERENTIATION, make_differentiation, min_samples

__all__ = ["RATIONAL", "discover", "preset_settings", "rational_settings"]

#: the library name of the rational path (a CLI name: DiscoverConfig gets ``library="none"``)
RATIONAL = "rational"
_LIBRARY_HELP = (
    " `rational`: the rational path for mass-matrix mechanics (features and denominator "
    "generated from the angle the inertia depends on)."
)


def rational_settings(settings: dict[str, Any], data: TrajectorySet) -> dict[str, Any]:
    """The settings of ``--library rational`` for ``data`` (see the module doc).

    Args:
        settings: the discovery settings given (file and flags), ``library`` among them.
        data: the trajectories: states are positions then velocities (an even number), the
            angles are ``settings["angles"]`` or the ``meta["angles"]`` the data recorded.

    Returns:
        ``settings`` with ``library="none"`` and, where not given, ``features``,
        ``action_products`` and ``denominator``.

    Raises:
        ConfigError: no angle is known, or several are and no denominator was given, or the
            states are not positions then velocities and no features were given.
    """
    out = {**settings, "library": "none"}
    angles = list(settings.get("angles") or data[0].meta.get("angles") or [])
    names = list(data.state_names)
    need = [k for k in ("features", "denominator") if not settings.get(k)]
    if not need:
        return out
    if len(angles) != 1 or len(names) % 2:
        raise ConfigError(
            f"`--library rational` generates {' and '.join(need)} for states that are "
            f"positions then velocities with one angle the inertia depends on; these states "
            f"are {names} with angles {angles}. Give them, e.g. `--denominator 'cos(theta2)' "
            f"--feature omega1,sin(theta1),...` (see the rational tables of the full preset)."
        )
    angle = angles[0]
    half = len(names) // 2
    if angle not in names[:half]:
        raise ConfigError(
            f"`--library rational` needs the angle {angle!r} among the positions "
            f"{names[:half]} (the states are positions then velocities). Give --feature and "
            f"--denominator instead."
        )
    rate = names[half + names.index(angle)]
    base = [*names[half:], f"sin({angle})", f"{rate}^2*sin({angle})"]
    generated = {
        "features": (*base, *(f"cos({angle})*{f}" for f in base)),
        "action_products": (f"cos({angle})",),
        "denominator": f"cos({angle})",
    }
    for key, value in generated.items():
        if not settings.get(key):
            out[key] = value
    return out


def preset_settings(preset: str, data: TrajectorySet) -> dict[str, Any]:
    """The discovery settings the benchmark ``preset`` gives the system of ``data``.

    Raises:
        UnknownNameError: for an unknown preset (the valid names are listed).
        ConfigError: if the data name no system or the preset has no settings for it.
    """
    tables = load_preset(preset).discover
    system = data[0].meta.get("system")
    if system not in tables:
        raise ConfigError(
            f"The preset {preset!r} has discovery settings for {sorted(tables)}, not for the "
            f"system of this data ({system!r}, its meta['system']). Give the settings as flags "
            f"or a --config file instead."
        )
    return dict(tables[system])


def _min_segment(cfg: DiscoverConfig) -> int:
    """The fewest samples a masked segment needs for the differentiation of ``cfg``: its
    stencil or window, and twice the smallest window when a smoothing window is chosen from
    the data (so that a choice remains), or the weak form's window."""
    smallest = cfg.window or (cfg.polyorder + 2) | 1
    plain = cfg.differentiation == "finite_difference"
    name = cfg.differentiation if cfg.differentiation in DIFFERENTIATION else "savgol"
    method = make_differentiation(name, order=cfg.order, window=smallest, polyorder=cfg.polyorder)
    need = min_samples(method)
    if cfg.window is None and not plain:
        need = max(need, 2 * smallest + 1)
    if cfg.method == "weak":
        need = max(need, cfg.weak_window or 2 * smallest + 1)
    return need


@config_flags(
    DiscoverConfig,
    panel="Discovery (DiscoverConfig)",
    decls={"features": ["--features", "--feature"]},
    helps={"library": _LIBRARY_HELP},
)
@mask_flags
@data_flags
def discover(
    data: DataOpt,
    out: Annotated[Path, typer.Option(help="Where to write the equations (physics JSON).")],
    config: Annotated[
        Path | None, typer.Option(help="TOML/YAML/JSON DiscoverConfig; flags given override it.")
    ] = None,
    latex: Annotated[bool, typer.Option(help="Also print the equations as LaTeX.")] = False,
    preset: Annotated[
        str | None,
        typer.Option(
            help="Start from a benchmark preset's settings for the data's system (e.g. full); "
            "--config and flags override them."
        ),
    ] = None,
    *,
    reading: DataOptions,
    masking: MaskOptions,
    settings: dict[str, Any],
) -> None:
    """Discover sparse equations (SINDy with controls) from trajectories and save them as JSON.

    `--library rational` fits mass-matrix mechanics (e.g. a cart-pole) as rational equations;
    `--mask "not at_limit"`, `--episodes` and `--exclude-episodes` choose the samples used.
    """
    ts = reading.read(data)
    given = {
        **(preset_settings(preset, ts) if preset is not None else {}),
        **(load_mapping(config) if config is not None else {}),
        **settings,
    }
    rational = given.get("library") == RATIONAL
    cfg = build_config(DiscoverConfig, None, {**given, "library": "none"} if rational else given)
    ts, note = masking.apply(ts, _min_segment(cfg))
    if note:
        console.print(f"Selection: {note}", highlight=False)
    if rational:
        cfg = build_config(DiscoverConfig, None, rational_settings(given, ts))
    model = run_discover(ts, config=cfg)
    path = model.save(out)
    console.print(f"[bold]Discovered equations[/bold] ({model.n_terms} terms, {len(ts)} episodes):")
    for eq in model.equations():
        console.print(f"  {eq}", highlight=False)
    if "selection" in model.info:  # the terms-vs-held-out-error trade-off behind the choice
        for line in format_selection(model.info["selection"]):
            console.print(line, highlight=False)
    _print_ensemble(model)
    _print_refinement(model)
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


def _print_refinement(model: PhysicsModel) -> None:
    """The standard error of every refined coefficient (``--refine``) and the fit's residual."""
    rec = model.info.get("refinement")
    if not rec:
        return
    cost = rec["cost"]
    console.print(
        f"\n[bold]Refined by simulation error[/bold] ({rec['segments']} segments, "
        f"{rec['evaluations']} evaluations; RMS residual in state std: {cost['before']:.4g} → "
        f"{cost['after']:.4g}). Standard errors (the Cramér-Rao bound of these data):",
        highlight=False,
    )
    view = coefficient_view(model)
    for state, errors in rec["standard_errors"].items():
        terms = [f"{view[state][term]:+.6g} ± {se:.2g} {term}" for term, se in errors.items()]
        if terms:
            console.print(f"  d({state})/dt: " + ", ".join(terms), highlight=False)
