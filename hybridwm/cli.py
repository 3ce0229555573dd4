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


# ---------------------------------------------------------------------------------- simulate
@app.command()
def simulate(
    out: Annotated[Path, typer.Option(help="Output file (.parquet, .csv or .npz).")],
    system: Annotated[str, typer.Option(help="System name (see `hybridwm systems`).")] = "pendulum",
    scenario: Annotated[str, typer.Option(help="Scenario of the system.")] = "train",
    n_trajectories: Annotated[
        int | None, typer.Option(help="Number of trajectories (default: the scenario's).")
    ] = None,
    duration: Annotated[
        float | None, typer.Option(help="Seconds per trajectory (default: the scenario's).")
    ] = None,
    dt: Annotated[
        float | None, typer.Option(help="Sample/control period in s (default: the scenario's).")
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


def _read_data(
    data: Path,
    columns: Path | None,
    time_scale: float | None,
    *,
    time: str | None = None,
    states: list[str] | None = None,
    actions: list[str] | None = None,
    episode: str | None = None,
    dropna: bool = False,
) -> Any:
    """Read a trajectory file; foreign logs need a column mapping (file and/or flags).

    ``--time/--states/--actions/--episode`` build a :class:`~hybridwm.data.ColumnMapping`
    (overriding the same fields of ``--columns``); ``--time-scale`` converts the time unit.
    """
    from hybridwm.config import load_mapping
    from hybridwm.data import ColumnMapping, read_trajectories

    kwargs: dict[str, Any] = {"dropna": dropna}
    flags = {
        "time": time,
        "states": _split_names(states),
        "actions": _split_names(actions),
        "episode": episode,
    }
    given = {k: v for k, v in flags.items() if v is not None}
    if given or columns is not None:
        fields: dict[str, Any] = dict(load_mapping(columns)) if columns is not None else {}
        fields.update(given)
        if time_scale is not None:
            fields["time_scale"] = time_scale
        missing = [k for k in ("time", "states") if k not in fields]
        if missing:
            raise ConfigError(
                f"Reading {data.name} with a column mapping needs "
                f"{' and '.join('--' + k for k in missing)} (or a --columns file giving them); "
                f"e.g. --time t --states h2 --actions pump --episode run."
            )
        kwargs["columns"] = ColumnMapping.from_dict(fields)
    elif time_scale is not None:
        kwargs["time_scale"] = time_scale
    return read_trajectories(data, **kwargs)


DataOpt = Annotated[Path, typer.Option(help="Trajectory file (.parquet, .csv or .npz).")]
ColumnsOpt = Annotated[
    Path | None,
    typer.Option(help="Column mapping (TOML/YAML/JSON: time, states, actions, episode)."),
]
TimeScaleOpt = Annotated[
    float | None, typer.Option(help="Multiply the time column by this to get seconds.")
]
TimeOpt = Annotated[str | None, typer.Option("--time", help="Name of the time column.")]
StatesOpt = Annotated[
    list[str] | None,
    typer.Option("--states", help="Measured state columns (repeat or comma-separate)."),
]
ActionsOpt = Annotated[
    list[str] | None,
    typer.Option("--actions", help="Action columns (repeat or comma-separate)."),
]
EpisodeOpt = Annotated[
    str | None, typer.Option("--episode", help="Column labelling episodes (default: one).")
]
DropnaOpt = Annotated[
    bool, typer.Option("--dropna", help="Drop rows with missing values before fitting.")
]


# ---------------------------------------------------------------------------------- discover
@app.command()
def discover(
    data: DataOpt,
    out: Annotated[Path, typer.Option(help="Where to write the equations (physics JSON).")],
    library: Annotated[
        str | None, typer.Option(help="Feature library: poly, linear, trig, trig-poly, none.")
    ] = None,
    angles: Annotated[
        list[str] | None, typer.Option(help="States that are angles (repeat or comma-separate).")
    ] = None,
    degree: Annotated[int | None, typer.Option(help="Polynomial degree.")] = None,
    action_products: Annotated[
        list[str] | None,
        typer.Option(help="State features the actions multiply, e.g. 'cos(theta)'."),
    ] = None,
    feature: Annotated[
        list[str] | None,
        typer.Option("--feature", help="Extra feature expression, e.g. 'u0*cos(theta)'."),
    ] = None,
    denominator: Annotated[
        str | None,
        typer.Option(
            help="State expression z of a learned denominator 1 + d1 z + d2 z^2 (rational "
            "right-hand sides, e.g. 'cos(theta2)' for a two-link arm)."
        ),
    ] = None,
    denominator_degree: Annotated[
        int | None, typer.Option(help="Degree of the denominator in z (default 2).")
    ] = None,
    rational: Annotated[
        list[str] | None,
        typer.Option(
            help="States whose derivatives get the denominator (default: all but dq/dt = v rows)."
        ),
    ] = None,
    optimizer: Annotated[str | None, typer.Option(help="Sparse optimizer: stlsq, sr3.")] = None,
    threshold: Annotated[float | None, typer.Option(help="Sparsity threshold.")] = None,
    differentiation: Annotated[
        str | None,
        typer.Option(help="finite_difference or smoothed_finite_difference (for noisy data)."),
    ] = None,
    window: Annotated[int | None, typer.Option(help="Smoothing window (samples).")] = None,
    ensemble: Annotated[
        int | None, typer.Option(help="Number of bagged models for coefficient uncertainty.")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the bagging.")] = None,
    config: Annotated[
        Path | None, typer.Option(help="TOML/JSON DiscoverConfig; flags given override it.")
    ] = None,
    columns: ColumnsOpt = None,
    time_scale: TimeScaleOpt = None,
    time: TimeOpt = None,
    states: StatesOpt = None,
    actions: ActionsOpt = None,
    episode: EpisodeOpt = None,
    dropna: DropnaOpt = False,
    latex: Annotated[bool, typer.Option(help="Also print the equations as LaTeX.")] = False,
) -> None:
    """Discover sparse equations (SINDy with controls) from trajectories and save them as JSON."""
    from hybridwm.physics import DiscoverConfig
    from hybridwm.physics import discover as run_discover

    base: dict[str, Any] = DiscoverConfig.from_file(config).to_dict() if config else {}
    flags = {
        "library": library,
        "angles": _split_names(angles),
        "degree": degree,
        "action_products": _split_names(action_products),
        "features": feature,
        "denominator": denominator,
        "denominator_degree": denominator_degree,
        "rational": _split_names(rational),
        "optimizer": optimizer,
        "threshold": threshold,
        "differentiation": differentiation,
        "window": window,
        "ensemble": ensemble,
        "seed": seed,
    }
    base.update({k: v for k, v in flags.items() if v is not None})
    cfg = DiscoverConfig.from_dict(base)
    ts = _read_data(
        data,
        columns,
        time_scale,
        time=time,
        states=states,
        actions=actions,
        episode=episode,
        dropna=dropna,
    )
    model = run_discover(ts, config=cfg)
    path = model.save(out)
    console.print(f"[bold]Discovered equations[/bold] ({model.n_terms} terms, {len(ts)} episodes):")
    for eq in model.equations():
        console.print(f"  {eq}", highlight=False)
    if model.coef_std is not None:
        console.print("\n[bold]Ensemble[/bold] (mean ± std, inclusion probability):")
        mean, std, inc = model.coef_mean, model.coef_std, model.inclusion_probability
        for eq in mean.index:
            terms = [
                f"{mean.loc[eq, f]:+.4g}±{std.loc[eq, f]:.2g} {f} (p={inc.loc[eq, f]:.2f})"
                for f in mean.columns
                if inc.loc[eq, f] > 0
            ]
            console.print(f"  {eq}: " + ", ".join(terms), highlight=False)
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


# ---------------------------------------------------------------------------------- fit
MODEL_KINDS = ("learned", "physics", "hybrid")


@app.command()
def fit(
    data: DataOpt,
    out: Annotated[Path, typer.Option(help="Run directory to save the fitted model in.")],
    model: Annotated[str, typer.Option(help="Model kind: learned, physics or hybrid.")] = "hybrid",
    physics: Annotated[
        Path | None,
        typer.Option(help="Physics JSON (from `hybridwm discover`) for physics/hybrid."),
    ] = None,
    prior: Annotated[
        Path | None,
        typer.Option(
            help="Declared physics prior (TOML/YAML: states, actions, equations, parameters, "
            "observations); its states may include ones the data do not measure."
        ),
    ] = None,
    hidden: Annotated[
        str, typer.Option(help="Hidden layer widths of the network, comma-separated.")
    ] = "64,64",
    trainable_physics: Annotated[
        bool | None,
        typer.Option(
            help="Train the physics coefficients/parameters (default: yes with --prior, no "
            "with --physics)."
        ),
    ] = None,
    latent_dim: Annotated[
        int, typer.Option(help="Extra unmeasured state coordinates z0, z1, ...")
    ] = 0,
    angles: Annotated[
        list[str] | None,
        typer.Option(help="Angle states, seen as (sin, cos) by the networks (default: inferred)."),
    ] = None,
    no_angles: Annotated[
        bool, typer.Option("--no-angles", help="No periodic embedding of angles.")
    ] = False,
    init: Annotated[
        str,
        typer.Option(help="Initial values of unmeasured states of a new record: encoder|optimize."),
    ] = "encoder",
    encoder_window: Annotated[
        int, typer.Option(help="Samples the encoder reads for the unmeasured initial state.")
    ] = 4,
    shooting: Annotated[
        str | None,
        typer.Option(help="Window starts of unmeasured states: encoder or multiple (shooting)."),
    ] = None,
    solver: Annotated[str, typer.Option(help="ODE solver: rk4, dopri5, ...")] = "rk4",
    epochs: Annotated[int | None, typer.Option(help="Maximum passes over the windows.")] = None,
    horizon: Annotated[int | None, typer.Option(help="Rollout-loss horizon H (steps).")] = None,
    validation_horizon: Annotated[
        int | None,
        typer.Option(help="Steps of the validation rollouts (default: whole episodes)."),
    ] = None,
    pinn_weight: Annotated[
        float | None, typer.Option(help="Weight of the PINN residual loss.")
    ] = None,
    lr: Annotated[float | None, typer.Option(help="Learning rate.")] = None,
    max_time: Annotated[
        float | None, typer.Option(help="Wall-clock training budget in seconds.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same weights).")] = 0,
    device: Annotated[str | None, typer.Option(help="cpu, cuda, ...")] = None,
    threads: Annotated[int | None, typer.Option(help="torch threads during training.")] = None,
    config: Annotated[
        Path | None, typer.Option(help="TOML/JSON TrainConfig; flags given override it.")
    ] = None,
    columns: ColumnsOpt = None,
    time_scale: TimeScaleOpt = None,
    time: TimeOpt = None,
    states: StatesOpt = None,
    actions: ActionsOpt = None,
    episode: EpisodeOpt = None,
    dropna: DropnaOpt = False,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Fit a world model (learned, physics or hybrid) to trajectories and save it."""
    from hybridwm.models import WorldModel
    from hybridwm.physics import PhysicsModel, load_prior
    from hybridwm.training import TrainConfig

    if model not in MODEL_KINDS:
        raise ConfigError(f"`--model` must be one of {list(MODEL_KINDS)}. Got {model!r}.")
    if physics is not None and prior is not None:
        raise ConfigError(
            "Give either `--physics` (a physics JSON) or `--prior` (a TOML/YAML prior)."
        )
    if model != "learned" and physics is None and prior is None:
        raise ConfigError(
            f"`--model {model}` needs `--physics PATH` (a physics JSON from `hybridwm discover`) "
            f"or `--prior PATH` (a declared prior, TOML/YAML)."
        )
    if model == "learned" and (physics is not None or prior is not None):
        raise ConfigError("`--model learned` takes no physics; use `--model hybrid`.")
    try:
        widths = tuple(int(w) for w in hidden.split(",") if w.strip())
    except ValueError:
        raise ConfigError(f"`--hidden` must be comma-separated integers. Got {hidden!r}.") from None
    base: dict[str, Any] = TrainConfig.from_file(config).to_dict() if config else {}
    flags = {
        "epochs": epochs,
        "horizon": horizon,
        "validation_horizon": validation_horizon,
        "pinn_weight": pinn_weight,
        "lr": lr,
        "max_time": max_time,
        "device": device,
        "threads": threads,
        "shooting": shooting,
    }
    base.update({k: v for k, v in flags.items() if v is not None})
    base.update(seed=seed, progress=progress)
    cfg = TrainConfig.from_dict(base)
    ts = _read_data(
        data,
        columns,
        time_scale,
        time=time,
        states=states,
        actions=actions,
        episode=episode,
        dropna=dropna,
    )
    angle_names: tuple[str, ...] | None = () if no_angles else None
    if angles:
        angle_names = tuple(_split_names(angles) or ())
    shared: dict[str, Any] = {
        "solver": solver,
        "latent_dim": latent_dim,
        "angles": angle_names,
        "init": init,
        "encoder_window": encoder_window,
    }
    phys = None
    if prior is not None:
        phys = load_prior(prior)
    elif physics is not None:
        phys = PhysicsModel.load(physics)
    trainable = trainable_physics  # None: the library's default (free prior parameters train)
    if model == "learned":
        wm = WorldModel.learned(hidden=widths, **shared)
    elif model == "physics":
        wm = WorldModel.physics(phys, trainable=trainable, **shared)
    else:
        wm = WorldModel.hybrid(physics=phys, hidden=widths, trainable_physics=trainable, **shared)
    wm.fit(ts, config=cfg)
    path = wm.save(out)
    hist = wm.history_
    console.print(
        f"Fitted a [bold]{model}[/bold] model on {len(ts)} episodes ({ts.n_samples} samples) in "
        f"{len(hist)} epochs (stopped: {hist.stop_reason or 'n/a'}; best epoch "
        f"{hist.best_epoch}, validation nRMSE {hist.best_score:.4g})."
    )
    console.print(
        f"Measured: {list(wm.observed_names_)}; model states: {list(wm.state_names_)}; angles "
        f"(sin/cos embedded): {list(wm.angles_) or 'none'}.",
        highlight=False,
    )
    hidden_names = list(wm.model_.hidden_names)
    if hidden_names:
        how = (
            f"multiple shooting (learnable window starts + continuity, weight "
            f"{cfg.continuity_weight:g}); the encoder learned to reproduce them"
            if cfg.shooting == "multiple"
            else f"the encoder, from the first {wm.model_.encoder_window} samples of each window"
        )
        console.print(
            f"Unmeasured states {hidden_names}: initial values in training from {how}. New "
            f"records: init={wm.init!r}.",
            highlight=False,
        )
    if wm.trainable_physics and phys is not None and phys.parameters:
        vals = wm.physics_.parameter_values
        console.print(
            "Physical parameters: " + ", ".join(f"{k} = {v:.5g}" for k, v in vals.items()),
            highlight=False,
        )
    console.print(f"Saved to [green]{path}[/green]")


def _init_note(wm: Any, init: str | None) -> str:
    hidden = list(wm.model_.hidden_names)
    if not hidden:
        return ""
    mode = init or wm.init
    if mode == "optimize":
        return (
            f"Initial values of unmeasured states {hidden}: optimized on the first "
            f"{wm.init_window} samples of each episode (model frozen, starting from the encoder)."
        )
    return (
        f"Initial values of unmeasured states {hidden}: estimated by the encoder from the "
        f"first {wm.model_.encoder_window} samples of each episode."
    )


def _channel_scores(ts: Any, pred: Any) -> tuple[float, dict[str, float], int]:
    """nRMSE overall and per measured channel (finite episodes), and the number diverged."""
    import numpy as np

    from hybridwm.evaluation import nrmse_per_state

    names = list(pred.state_names)
    ok = [i for i, p in enumerate(pred) if not p.meta.get("diverged")]
    n_bad = len(pred) - len(ok)
    if not ok:
        return float("inf"), {n: float("inf") for n in names}, n_bad
    p_all = np.concatenate([pred[i].x[1:] for i in ok])[None]
    t_all = np.concatenate([np.stack([ts[i].state(n) for n in names], -1)[1:] for i in ok])[None]
    per = nrmse_per_state(p_all, t_all)
    return float(np.mean(per)), dict(zip(names, map(float, per), strict=True)), n_bad


# ---------------------------------------------------------------------------------- rollout
@app.command()
def rollout(
    model: Annotated[Path, typer.Option(help="Run directory of a fitted model.")],
    data: DataOpt,
    out: Annotated[Path, typer.Option(help="Where to write the predicted trajectories.")],
    solver: Annotated[str | None, typer.Option(help="Override the model's solver.")] = None,
    init: Annotated[
        str | None,
        typer.Option(help="Unmeasured initial states: encoder or optimize (default: the model's)."),
    ] = None,
    columns: ColumnsOpt = None,
    time_scale: TimeScaleOpt = None,
    time: TimeOpt = None,
    states: StatesOpt = None,
    actions: ActionsOpt = None,
    episode: EpisodeOpt = None,
    dropna: DropnaOpt = False,
) -> None:
    """Roll a fitted model out open-loop on the recorded actions of each episode."""
    import warnings

    from hybridwm.data import write_trajectories
    from hybridwm.models import WorldModel

    wm = WorldModel.load(model)
    ts = _read_data(
        data,
        columns,
        time_scale,
        time=time,
        states=states,
        actions=actions,
        episode=episode,
        dropna=dropna,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        pred = wm.predict(ts, solver=solver, on_diverge="nan", init=init)
    path = write_trajectories(pred, out)
    total, per, n_bad = _channel_scores(ts, pred)
    note = _init_note(wm, init)
    if note:
        console.print(note, highlight=False)
    console.print(
        f"Rolled out {len(pred)} episodes; nRMSE against the file's measured channels: "
        f"[bold]{total:.4g}[/bold] ("
        + ", ".join(f"{k} {v:.4g}" for k, v in per.items())
        + ")"
        + (f"; [red]{n_bad} diverged[/red] (left out of the nRMSE)" if n_bad else ""),
    )
    console.print(f"Wrote [green]{path}[/green]")


# ---------------------------------------------------------------------------------- evaluate
@app.command()
def evaluate(
    model: Annotated[Path, typer.Option(help="Run directory of a fitted model.")],
    data: DataOpt,
    out: Annotated[
        Path | None, typer.Option(help="Write the metrics as JSON here (optional).")
    ] = None,
    system: Annotated[
        str | None, typer.Option(help="Ground-truth system, for the energy-drift metric.")
    ] = None,
    vpt_threshold: Annotated[
        float, typer.Option(help="Normalised error at which a prediction stops being valid.")
    ] = 0.1,
    init: Annotated[
        str | None,
        typer.Option(help="Unmeasured initial states: encoder or optimize (default: the model's)."),
    ] = None,
    columns: ColumnsOpt = None,
    time_scale: TimeScaleOpt = None,
    time: TimeOpt = None,
    states: StatesOpt = None,
    actions: ActionsOpt = None,
    episode: EpisodeOpt = None,
    dropna: DropnaOpt = False,
) -> None:
    """Score a fitted model's open-loop rollouts against recorded trajectories.

    Episodes may have any lengths and time grids: nRMSE (overall and per measured channel),
    valid prediction time, diverged episodes, and the energy drift when ``--system`` is given.
    """
    import warnings

    from hybridwm._io import atomic_write_json
    from hybridwm.evaluation import evaluate as run_evaluate
    from hybridwm.models import WorldModel

    wm = WorldModel.load(model)
    if init is not None:
        wm.init = init
        wm._check_params()
    ts = _read_data(
        data,
        columns,
        time_scale,
        time=time,
        states=states,
        actions=actions,
        episode=episode,
        dropna=dropna,
    )
    energy = None
    if system is not None:
        from hybridwm.systems import get_system

        params = ts[0].meta.get("parameters") or {}
        energy = get_system(system).with_parameters(**params).energy
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        ev = run_evaluate(wm, ts, vpt_threshold=vpt_threshold, energy=energy)
    metrics = dict(ev.metrics)
    metrics.update({f"nrmse[{k}]": v for k, v in ev.per_state.items()})
    note = _init_note(wm, None)
    if note:
        console.print(note, highlight=False)
    table = Table(title=f"{wm.kind} model on {data.name}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    from rich.markup import escape

    for k, v in metrics.items():
        table.add_row(escape(k), f"{v:.4g}")
    console.print(table)
    if out is not None:
        atomic_write_json(out, {"model": str(model), "data": str(data), "metrics": metrics})
        console.print(f"Wrote [green]{out}[/green]")


# ---------------------------------------------------------------------------------- benchmark
@app.command()
def benchmark(
    out: Annotated[Path, typer.Option(help="Run directory (resumes if it exists).")] = Path(
        "runs/bench"
    ),
    preset: Annotated[str, typer.Option(help="Preset: quick or full.")] = "quick",
    config: Annotated[
        Path | None, typer.Option(help="TOML/JSON BenchmarkConfig instead of a preset.")
    ] = None,
    workers: Annotated[int | None, typer.Option(help="Parallel jobs.")] = None,
    seeds: Annotated[
        list[int] | None, typer.Option("--seed", help="Seeds (repeatable); overrides the preset.")
    ] = None,
    max_time: Annotated[
        float | None, typer.Option(help="Training budget per model in seconds.")
    ] = None,
    executor: Annotated[str | None, typer.Option(help="local or ray.")] = None,
    report: Annotated[bool, typer.Option(help="Render the report when done.")] = True,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Run the benchmark grid (systems × models × scenarios × seeds) and collect the results."""
    from hybridwm.evaluation import BenchmarkConfig, load_preset
    from hybridwm.evaluation import benchmark as run_benchmark

    overrides: dict[str, Any] = {}
    if workers is not None:
        overrides["workers"] = workers
    if seeds:
        overrides["seeds"] = seeds
    if executor is not None:
        overrides["executor"] = executor
    if config is not None:
        cfg = BenchmarkConfig.from_file(config)
        cfg = BenchmarkConfig.from_dict({**cfg.to_dict(), **overrides})
    else:
        cfg = load_preset(preset, **overrides)
    if max_time is not None:
        cfg = cfg.replace(train={**cfg.train, "max_time": max_time})
    results = run_benchmark(cfg, out, progress=progress, report=report)
    console.print(f"Results in [green]{results}[/green]")
    if report:
        console.print(f"Report: [green]{out / 'report.html'}[/green] and {out / 'report.md'}")


# ---------------------------------------------------------------------------------- report
@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="A benchmark run directory.")],
    out_dir: Annotated[
        Path | None, typer.Option(help="Where to write the report (default: RUN_DIR).")
    ] = None,
) -> None:
    """Render report.html, report.md and summary.json from a benchmark run directory."""
    from hybridwm.reports import render_report

    paths = render_report(run_dir, out_dir=out_dir)
    for key, path in paths.items():
        console.print(f"{key}: [green]{path}[/green]")


# ---------------------------------------------------------------------------------- demo
@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Run directory of the demo.")] = Path("runs/demo"),
    workers: Annotated[int | None, typer.Option(help="Parallel jobs.")] = None,
    max_time: Annotated[
        float | None, typer.Option(help="Training budget per model in seconds.")
    ] = None,
) -> None:
    """Run the quick benchmark end to end (simulate, discover, fit, evaluate) and its report."""
    import json as _json

    console.rule("[bold]hybridwm demo[/bold]: quick benchmark on pendulum and cartpole")
    benchmark(
        out=out,
        preset="quick",
        config=None,
        workers=workers,
        seeds=None,
        max_time=max_time,
        executor=None,
        report=True,
        progress=True,
    )
    summary = _json.loads((out / "summary.json").read_text())
    for line in summary.get("findings", []):
        console.print(f"• {line}", highlight=False)
    console.print(f"\nOpen the report: [bold green]{(out / 'report.html').resolve()}[/bold green]")


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
        # Usage errors (unknown option, missing argument, bad value) are click exceptions: from
        # `click` itself with older typer, from typer's vendored copy with newer typer. Both
        # carry `show()` and `exit_code`.
        show, code = getattr(exc, "show", None), getattr(exc, "exit_code", None)
        if callable(show) and isinstance(code, int):
            show()
            sys.exit(code)
        raise
    if isinstance(rc, int) and rc:
        sys.exit(rc)


if __name__ == "__main__":  # pragma: no cover
    main()
