"""``hybridwm fit``: fit a world model (learned, physics or hybrid) to trajectories."""

from __future__ import annotations

import enum
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from hybridwm.cli.entry import console, err_console
from hybridwm.cli.flags import build_config, config_flags
from hybridwm.cli.reading import DataOpt, DataOptions, data_flags
from hybridwm.data import TrajectorySet
from hybridwm.errors import ConfigError
from hybridwm.evaluation.detection import ChangeDetector
from hybridwm.models import KINDS, ModelSpec, WorldModel
from hybridwm.models.closure import describe_closure
from hybridwm.models.ensemble import WorldModelEnsemble
from hybridwm.models.persistence import is_model_dir
from hybridwm.physics import PhysicsModel, load_prior
from hybridwm.training import TrainConfig, save_checkpoint

__all__ = ["check_out", "checkpoint_path", "fit", "fit_ensemble", "load_physics", "model_options"]

MODEL = "Model"
PRIOR_HELP = (
    "Declared physics prior (TOML/YAML: states, actions, equations, parameters, observations); "
    "its states may include ones the data do not measure."
)
TRAINABLE_HELP = (
    "Train the physics coefficients/parameters (default: yes with --prior, no with --physics)."
)
#: the model kinds of `--model` (choices checked while parsing)
Kind = enum.Enum("Kind", {kind: kind for kind in KINDS}, type=str)  # type: ignore[misc]
RESUME_HELP = (
    "Continue the interrupted fit whose checkpoint Ctrl-C left in OUT/checkpoint/last.pt (or "
    "in --checkpoint-dir); give the same data and settings."
)
ENSEMBLE = "Ensemble (uncertainty)"
MEMBERS_HELP = (
    "Fit an ensemble of this many members (>= 2) instead of one model: each on a bootstrap "
    "resample of the episodes, member m with seed + m. The directory it is saved in is read by "
    "rollout, evaluate and control like a model's."
)
DRAWS_HELP = (
    "Give each physics/hybrid member its own draw of the coefficients from the physics JSON's "
    "E-SINDy statistics (`hybridwm discover --ensemble N`); needs --members."
)
WORKERS_HELP = (
    "Train this many ensemble members at a time, each in its own process (the members are the "
    "same as with 1); needs --members."
)
CALIBRATION_HELP = (
    "Held-out in-distribution episodes (a trajectory file, read like --data): the ensemble's "
    "spread is recalibrated on them, and a change detector is fitted and saved as "
    "OUT/detector.json (for `hybridwm evaluate --detector`); needs --members."
)
#: the spelling of `--hidden` for a network without hidden layers (one linear map)
LINEAR = "linear"
PHYSICS_FLAGS = (
    "On the command line the physics is `--physics PATH` (a physics JSON from `hybridwm "
    "discover`) or `--prior PATH` (a declared prior, TOML/YAML), for `--model physics` or "
    "`--model hybrid`."
)


def load_physics(physics: Path | None, prior: Path | None) -> PhysicsModel | None:
    """The physics of ``--physics`` (discovered equations) or ``--prior`` (a declared prior).

    Raises:
        ConfigError: if both are given.
    """
    if physics is not None and prior is not None:
        raise ConfigError(
            f"Give either `--physics` (a physics JSON) or `--prior` (a TOML/YAML prior), not "
            f"both. Got --physics {physics} and --prior {prior}."
        )
    if prior is not None:
        return load_prior(prior)
    return PhysicsModel.load(physics) if physics is not None else None


def model_options(settings: dict[str, Any], hidden: str | None, no_angles: bool) -> dict[str, Any]:
    """The architecture options of ``WorldModel.from_kind`` given on the command line.

    Args:
        settings: the :class:`~hybridwm.models.ModelSpec` flags given.
        hidden: ``--hidden``, comma-separated widths of the network.
        no_angles: ``--no-angles``: no periodic embedding of angles.

    Raises:
        ConfigError: if ``--hidden`` is not comma-separated integers, or ``--no-angles`` comes
            with ``--angles``.
    """
    options = dict(settings)
    if hidden is not None:
        options["hidden"] = _widths(hidden)
    if no_angles and options.get("angles"):
        raise ConfigError(
            f"`--no-angles` turns the angle embedding off; it cannot go with `--angles`. Got "
            f"--angles {','.join(options['angles'])}."
        )
    if no_angles:
        options["angles"] = ()
    return options


def _widths(hidden: str) -> tuple[int, ...]:
    """``--hidden``: comma-separated widths, or ``linear`` for no hidden layer."""
    if hidden.strip().lower() == LINEAR:
        return ()
    try:
        widths = tuple(int(w) for w in hidden.split(",") if w.strip())
    except ValueError:
        raise ConfigError(
            f"`--hidden` must be comma-separated integers, e.g. 64,64. Got {hidden!r}."
        ) from None
    if not widths:
        raise ConfigError(
            f"`--hidden` must list at least one layer width, e.g. 64,64. Got {hidden!r}, which "
            f"names none. For a network without hidden layers (one linear map), write "
            f"`--hidden {LINEAR}`."
        )
    return widths


def check_out(out: Path) -> None:
    """Check before training that the model directory ``out`` can be written.

    Raises:
        ConfigError: ``out`` is a file, a directory that is not a hybridwm model directory (and
            not empty), or its parent is not a writable directory.
    """
    if out.exists() and not out.is_dir():
        raise ConfigError(
            f"`--out` must be a directory to save the model in (new, empty, or a model directory "
            f"to replace). Got {str(out)!r}, an existing file. Give another path or remove it."
        )
    replaceable = is_model_dir(out) or (out / "ensemble.json").is_file()
    if out.is_dir() and any(out.iterdir()) and not replaceable:
        raise ConfigError(
            f"`--out` must be a new or empty directory, or a hybridwm model (or ensemble) "
            f"directory to replace. Got {str(out)!r}, a directory with other files. Give another "
            f"path."
        )
    parent = out.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        what = "not a directory" if not parent.is_dir() else "not writable"
        raise ConfigError(
            f"`--out` {str(out)!r} cannot be created: {str(parent)!r} is {what}. Give a path "
            f"in a writable directory."
        )


def checkpoint_path(out: Path, cfg: TrainConfig) -> Path:
    """Where an interrupted fit leaves its checkpoint: ``last.pt`` in ``checkpoint_dir``, else
    in ``OUT/checkpoint``."""
    return Path(cfg.checkpoint_dir or out / "checkpoint") / "last.pt"


def _resume(cfg: TrainConfig, out: Path, resume: bool) -> TrainConfig:
    """``--resume``: ``resume_from`` set to the checkpoint an interrupted fit left.

    Raises:
        ConfigError: with ``--resume-from`` too, or when there is no checkpoint to resume.
    """
    if not resume:
        return cfg
    path = checkpoint_path(out, cfg)
    if cfg.resume_from is not None:
        raise ConfigError(
            f"Give either `--resume` (continue from {str(path)!r}) or `--resume-from FILE`, not "
            f"both. Got --resume-from {cfg.resume_from}."
        )
    if not path.is_file():
        raise ConfigError(
            f"`--resume` continues an interrupted fit from its checkpoint {str(path)!r}, which "
            f"does not exist. Give the --out (and --checkpoint-dir) of the interrupted run, or "
            f"fit without --resume."
        )
    return cfg.replace(resume_from=str(path))


def _save_interrupted(wm: WorldModel, exc: KeyboardInterrupt, out: Path, cfg: TrainConfig) -> None:
    """Ctrl-C during training: save the best model so far and the checkpoint, and say so."""
    checkpoint = getattr(exc, "checkpoint", None)
    if checkpoint is None and getattr(exc, "closure_stage", None) == 2:
        path = wm.save(out)
        err_console.print(
            escape(
                f"Interrupted while the closed prior trained (the closure's second stage). "
                f"Saved the first stage's model to {path}. That stage cannot be resumed: run the "
                f"command again, or fit with --closure off to make a fit resumable throughout."
            ),
            style="yellow",
            highlight=False,
            soft_wrap=True,
        )
        return
    if checkpoint is None:
        err_console.print("[yellow]Interrupted before the first epoch; nothing saved.[/yellow]")
        return
    path = wm.save(out)
    last = save_checkpoint(checkpoint_path(out, cfg), checkpoint)
    hist = wm.history_
    done = hist.records[-1]["epoch"] if hist.records else 0
    err_console.print(
        escape(
            f"Interrupted after epoch {done} ({hist.steps} optimizer steps). Saved the best "
            f"model so far "
            f"(epoch {hist.best_epoch}, score {hist.best_score:.4g}) to {path}, and the state "
            f"after epoch {checkpoint['epoch']} to {last}. To continue, run the same command "
            f"with --resume."
        ),
        style="yellow",
        highlight=False,
        soft_wrap=True,
    )


def _option(help: str, *decls: str) -> Any:
    return typer.Option(*decls, help=help, rich_help_panel=MODEL)


#: ModelSpec fields that are no flag of their own: `--model` names the kind, `--hidden` gives
#: the residual's widths, `--trainable-physics` has a default that depends on the physics, and
#: the encoder's MLP keeps its default
_SPEC_FLAGS = {
    name: info
    for name, info in ModelSpec.model_fields.items()
    if name not in ("kind", "residual", "encoder", "trainable_physics")
}


@config_flags(
    TrainConfig,
    panel="Training (TrainConfig)",
    fields=TrainConfig.flat_fields(),
    decls={"solver": ["--train-solver"]},
)
@config_flags(ModelSpec, panel=MODEL, fields=_SPEC_FLAGS, into="model_settings")
@data_flags
def fit(
    data: DataOpt,
    out: Annotated[Path, typer.Option(help="Run directory to save the fitted model in.")],
    validation: Annotated[
        Path | None,
        typer.Option(
            help="Validation episodes (a trajectory file, read like --data); default: "
            "TrainConfig.validation_fraction of the --data episodes."
        ),
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="TOML/YAML/JSON TrainConfig; flags given override it.")
    ] = None,
    kind: Annotated[Kind, _option("Model kind.", "--model")] = Kind.hybrid,
    physics: Annotated[
        Path | None, _option("Physics JSON (from `hybridwm discover`) for physics/hybrid.")
    ] = None,
    prior: Annotated[Path | None, _option(PRIOR_HELP)] = None,
    hidden: Annotated[
        str | None,
        _option("Hidden layer widths of the network, comma-separated (e.g. 64,64), or `linear`."),
    ] = None,
    trainable_physics: Annotated[bool | None, _option(TRAINABLE_HELP)] = None,
    no_angles: Annotated[bool, _option("No periodic embedding of angles.", "--no-angles")] = False,
    resume: Annotated[bool, typer.Option("--resume", help=RESUME_HELP)] = False,
    members: Annotated[int, typer.Option(help=MEMBERS_HELP, rich_help_panel=ENSEMBLE)] = 1,
    physics_draws: Annotated[
        bool, typer.Option("--physics-draws", help=DRAWS_HELP, rich_help_panel=ENSEMBLE)
    ] = False,
    calibration: Annotated[
        Path | None, typer.Option(help=CALIBRATION_HELP, rich_help_panel=ENSEMBLE)
    ] = None,
    workers: Annotated[int, typer.Option(help=WORKERS_HELP, rich_help_panel=ENSEMBLE)] = 1,
    *,
    reading: DataOptions,
    model_settings: dict[str, Any],
    settings: dict[str, Any],
) -> None:
    """Fit a world model (learned, physics or hybrid) to trajectories and save it."""
    check_out(out)
    _check_ensemble_flags(members, physics_draws, calibration, resume, workers)
    cfg = _resume(build_config(TrainConfig, config, settings), out, resume)
    options = model_options(model_settings, hidden, no_angles)
    phys = load_physics(physics, prior)
    if members > 1:
        ens = WorldModelEnsemble(
            kind.value,
            physics=phys,
            n_members=members,
            physics_draws=physics_draws,
            seed=cfg.seed,
            trainable_physics=trainable_physics,
            **options,
        )
        fit_ensemble(ens, reading, data, validation, calibration, cfg, out, workers)
        return
    try:
        wm = WorldModel.from_kind(
            kind, physics=phys, trainable_physics=trainable_physics, **options
        )
    except ConfigError as exc:  # the library names its argument; say which flags give it
        raise ConfigError(f"{exc} {PHYSICS_FLAGS}") from None
    ts = reading.read(data)
    val = reading.read(validation) if validation is not None else None
    try:
        wm.fit(ts, config=cfg, validation=val)
    except KeyboardInterrupt as exc:
        _save_interrupted(wm, exc, out, cfg)
        raise
    path = wm.save(out)
    _print_fit(wm, ts, cfg)
    console.print(f"Saved to [green]{path}[/green]")


def _print_fit(wm: WorldModel, ts: TrajectorySet, cfg: TrainConfig) -> None:
    """What was fitted: the stopping point and its score, the states, the learned parameters."""
    hist = wm.history_
    validated = any(v is not None for v in hist["val_nrmse"])
    score = (
        f"validation nRMSE {hist.best_score:.4g}"
        if validated
        else f"training loss {hist.best_score:.4g}; no validation episodes (give --validation "
        f"FILE, or more than one episode with TrainConfig.validation_fraction > 0)"
    )
    console.print(
        f"Fitted a [bold]{wm.kind}[/bold] model on {len(ts)} episodes ({ts.n_samples} samples) "
        f"in {hist.steps} optimizer steps, {max(len(hist) - 1, 0)} epochs (stopped: "
        f"{hist.stop_reason or 'n/a'}; best epoch "
        f"{hist.best_epoch}, {score})."
    )
    console.print(
        f"Measured: {list(wm.observed_names_)}; model states: {list(wm.state_names_)}; angles "
        f"(sin/cos embedded): {list(wm.angles_) or 'none'}.",
        highlight=False,
    )
    if wm.kind == "hybrid" and wm.residual_inputs is not None:
        console.print(
            f"The residual reads {list(wm.residual_inputs)} only.",
            highlight=False,
        )
    gate = wm.model_.dynamics.gate
    if gate is not None:
        console.print(
            f"Residual gated to the training data ({wm.gate}): 1 within {float(gate.cover):.3g} "
            f"of the nearest of {gate.n_anchors} anchors, closing over {float(gate.width):.3g} "
            f"beyond (normalized units); off the data the model is its physics alone.",
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
    physics = wm.physics_
    if wm.trainable_physics and physics is not None and physics.parameters:
        vals = physics.parameter_values
        console.print(
            "Physical parameters: " + ", ".join(f"{k} = {v:.5g}" for k, v in vals.items()),
            highlight=False,
        )
    record = getattr(wm, "closure_", None)
    if record is not None:
        console.print(describe_closure(record, physics), highlight=False)


def _check_ensemble_flags(
    members: int, physics_draws: bool, calibration: Path | None, resume: bool, workers: int
) -> None:
    """``--members`` and the flags that need it.

    Raises:
        ConfigError: ``--members`` < 1; ``--physics-draws``/``--calibration``/``--workers``
            without ``--members`` >= 2; ``--workers`` < 1; ``--resume`` with an ensemble.
    """
    if workers < 1:
        raise ConfigError(f"`--workers` must be an integer >= 1. Got {workers}.")
    if members < 1:
        raise ConfigError(
            f"`--members` must be an integer >= 1 (1: one model; >= 2: an ensemble). Got {members}."
        )
    given = (("--physics-draws", physics_draws), ("--calibration", calibration))
    alone = [f for f, v in (*given, ("--workers", workers > 1)) if v]
    if members == 1 and alone:
        raise ConfigError(
            f"{' and '.join(alone)} {'apply' if len(alone) > 1 else 'applies'} to an ensemble; "
            f"add `--members N` (N >= 2, e.g. 5) or drop {' and '.join(alone)}."
        )
    if members > 1 and resume:
        raise ConfigError(
            f"`--resume` continues one interrupted model's fit; an ensemble of {members} members "
            f"cannot be resumed. Fit it again without --resume."
        )


def fit_ensemble(
    ens: WorldModelEnsemble,
    reading: DataOptions,
    data: Path,
    validation: Path | None,
    calibration: Path | None,
    cfg: TrainConfig,
    out: Path,
    workers: int = 1,
) -> None:
    """Fit, recalibrate (``--calibration``), save and describe an ensemble; with calibration
    episodes also fit and save its change detector (``OUT/detector.json``)."""
    ts = reading.read(data)
    val = reading.read(validation) if validation is not None else None
    cal = reading.read(calibration) if calibration is not None else None
    ens.fit(ts, cfg, validation=val, workers=workers)
    detector = None
    if cal is not None:
        ens.calibrate(cal)
        detector = ChangeDetector.fit(ens, cal)
    path = ens.save(out)
    hists = [m.history_ for m in ens.members_]
    console.print(
        f"Fitted a [bold]{ens.kind}[/bold] ensemble of {len(hists)} members on {len(ts)} "
        f"episodes (optimizer steps {', '.join(str(h.steps) for h in hists)}; best scores "
        f"{', '.join(f'{h.best_score:.4g}' for h in hists)}).",
        highlight=False,
    )
    if detector is None:
        console.print(
            "Not recalibrated: its spread is the members' raw spread, which is usually "
            "overconfident. Give --calibration FILE (held-out in-distribution episodes) to "
            "recalibrate it and fit a change detector."
        )
    else:
        det_path = detector.save(path / "detector.json")
        console.print(
            f"Recalibrated on {len(cal)} episodes (90 % intervals); change detector "
            f"({', '.join(detector.parts)}; threshold {detector.threshold:.4g}, "
            f"{detector.false_alarm:.0%} false alarms on those episodes) saved to "
            f"[green]{det_path}[/green]. Use it with `hybridwm evaluate --detector`.",
            highlight=False,
        )
    console.print(f"Saved to [green]{path}[/green]")
