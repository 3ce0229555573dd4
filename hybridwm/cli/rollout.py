"""``hybridwm rollout`` and ``hybridwm evaluate``: a fitted model's open-loop predictions and
their scores, both from :func:`hybridwm.evaluation.evaluate` (one metric implementation)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.markup import escape
from rich.table import Table

from hybridwm.cli.entry import console
from hybridwm.cli.reading import DataOpt, DataOptions, data_flags
from hybridwm.data import TrajectorySet, write_trajectories
from hybridwm.errors import ConfigError
from hybridwm.evaluation import ChangeDetector, evaluate, ground_truth_energy
from hybridwm.models import WorldModel, WorldModelEnsemble
from hybridwm.schemas import Document, JsonFloat
from hybridwm.training.config import check_device

__all__ = ["MetricsFile", "checked_device", "evaluate_command", "init_note", "rollout"]

ModelOpt = Annotated[Path, typer.Option(help="Run directory of a fitted model.")]
SolverOpt = Annotated[str | None, typer.Option(help="Override the model's solver.")]
DeviceOpt = Annotated[
    str | None,
    typer.Option(help="Torch device to run the model on: cpu, cuda, cuda:1, ... (default: cpu)."),
]
InitOpt = Annotated[
    str | None,
    typer.Option(help="Unmeasured initial states: encoder or optimize (default: the model's)."),
]


def init_note(wm: WorldModel | WorldModelEnsemble, init: str | None) -> str:
    """How the initial values of the model's unmeasured states are estimated ('' if none)."""
    if isinstance(wm, WorldModelEnsemble):
        wm = wm.members_[0]
    hidden = list(wm.model_.hidden_names)
    if not hidden:
        return ""
    if (init or wm.init) == "optimize":
        return (
            f"Initial values of unmeasured states {hidden}: optimized on the first "
            f"{wm.init_window} samples of each episode (model frozen, starting from the encoder)."
        )
    return (
        f"Initial values of unmeasured states {hidden}: estimated by the encoder from the "
        f"first {wm.model_.encoder_window} samples of each episode."
    )


def checked_device(device: str) -> str:
    """``device`` (the ``--device`` flag), checked to exist on this machine.

    Raises:
        ConfigError: it is no torch device, or not available here (the message names the flag).
    """
    try:
        check_device(device)
    except ConfigError as exc:
        raise ConfigError(f"--device {device!r}: {exc}") from None
    return device


def _load(
    model: Path, data: Path, reading: DataOptions, device: str | None
) -> tuple[WorldModel | WorldModelEnsemble, TrajectorySet]:
    """The fitted model (or ensemble: a directory with ``ensemble.json``) on ``device`` and the
    data, read through the model's column mapping if it has one."""
    dev = checked_device(device) if device is not None else None
    kind = WorldModelEnsemble if (model / "ensemble.json").is_file() else WorldModel
    wm = kind.load(model, device=dev)
    return wm, reading.read(data, model_columns=wm.columns_)


@data_flags
def rollout(
    model: ModelOpt,
    data: DataOpt,
    out: Annotated[Path, typer.Option(help="Where to write the predicted trajectories.")],
    solver: SolverOpt = None,
    init: InitOpt = None,
    device: DeviceOpt = None,
    *,
    reading: DataOptions,
) -> None:
    """Roll a fitted model out open-loop on the recorded actions of each episode."""
    wm, ts = _load(model, data, reading, device)
    ev = evaluate(wm, ts, init=init, solver=solver)
    path = write_trajectories(ev.predictions, out)
    note = init_note(wm, init)
    if note:
        console.print(note, highlight=False)
    m, n_bad = ev.metrics, int(ev.metrics["diverged"])
    console.print(
        f"Rolled out {len(ts)} episodes against the file's measured channels: nRMSE "
        f"[bold]{m['nrmse']:.4g}[/bold] ({_per_state(ev.per_state)}); RMSE in the data's units "
        f"{m['rmse']:.4g} ({_per_state(ev.per_state_rmse)})"
        + (
            f"; [red]{n_bad} diverged[/red] (per state: over the others; nRMSE over the others "
            f"{m['nrmse_finite']:.4g})"
            if n_bad
            else ""
        ),
        highlight=False,
    )
    console.print(f"Wrote [green]{path}[/green]")


def _print_detection(detection: dict) -> None:
    """One row per episode: its change score and whether it is flagged."""
    table = Table(title=f"change detection (threshold {detection['threshold']:.4g})")
    for name in ("episode", "score", "flagged"):
        table.add_column(name, justify="right")
    for i, (score, flag) in enumerate(zip(detection["score"], detection["flagged"], strict=True)):
        table.add_row(str(i), f"{score:.4g}", "yes" if flag else "no")
    console.print(table)


def _per_state(values: dict[str, float]) -> str:
    return ", ".join(f"{name} {v:.4g}" for name, v in values.items())


class MetricsFile(Document):
    """What ``hybridwm evaluate --out FILE`` writes: the model, the data and the metrics."""

    model: str
    data: str
    metrics: dict[str, JsonFloat]


@data_flags
def evaluate_command(
    model: ModelOpt,
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
    solver: SolverOpt = None,
    init: InitOpt = None,
    device: DeviceOpt = None,
    detector: Annotated[
        Path | None,
        typer.Option(
            help="A change detector of the ensemble (ChangeDetector.save): score and flag "
            "every episode."
        ),
    ] = None,
    *,
    reading: DataOptions,
) -> None:
    """Score a fitted model's open-loop rollouts against recorded trajectories.

    Episodes may have any lengths and time grids: nRMSE and RMSE in the data's units (overall
    and per measured channel), valid prediction time, diverged episodes, and the energy drift
    when ``--system`` is given (with the physical parameters the data were simulated with).
    For an ensemble also CRPS and Gaussian NLL, and with ``--detector`` each episode's change
    score and flag (``flagged``: the fraction of flagged episodes).
    """
    wm, ts = _load(model, data, reading, device)
    energy = None
    if system is not None:
        energy = ground_truth_energy(system, ts)
        if energy is None:
            console.print(
                f"No energy drift: the energy of {system} is not defined on the data's states "
                f"{list(ts.state_names)} (it needs all of its states).",
                highlight=False,
            )
    change = ChangeDetector.load(detector) if detector is not None else None
    ev = evaluate(
        wm, ts, vpt_threshold=vpt_threshold, energy=energy, init=init, solver=solver,
        detector=change,
    )  # fmt: skip
    metrics = dict(ev.metrics)
    if ev.uncertainty is not None:
        metrics.update(crps=ev.uncertainty["crps"], nll=ev.uncertainty["nll"])
    if ev.detection is not None:
        metrics["flagged"] = float(np.mean(ev.detection["flagged"]))
        _print_detection(ev.detection)
    metrics.update({f"nrmse[{k}]": v for k, v in ev.per_state.items()})
    metrics.update({f"rmse[{k}]": v for k, v in ev.per_state_rmse.items()})
    note = init_note(wm, init)
    if note:
        console.print(note, highlight=False)
    table = Table(title=f"{wm.kind} model on {data.name}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for k, v in metrics.items():
        table.add_row(escape(k), f"{v:.4g}")
    console.print(table)
    if out is not None:
        MetricsFile(model=str(model), data=str(data), metrics=metrics).write(out)
        console.print(f"Wrote [green]{out}[/green]")
