"""The benchmark's jobs: prepare one (system, seed); fit and evaluate one (system, seed, model).

Each job reads and writes only its own part of the run directory and skips the steps whose
files exist, so an interrupted benchmark resumes where it stopped. A cached file that cannot be
read back (truncated, corrupted, from an incompatible version) is computed again, with a
warning naming it::

    jobs/<system>/seed<k>/data/<scenario>.parquet             simulated ground truth
    jobs/<system>/seed<k>/data/<scenario>-calibration.parquet calibration record (adapt)
    jobs/<system>/seed<k>/physics.json                        discovered equations
    jobs/<system>/seed<k>/models/<model>/                     fitted WorldModel
    jobs/<system>/seed<k>/models/<model>-<scenario>-adapted/  the model after WorldModel.adapt
    jobs/<system>/seed<k>/eval/<model>.json                   a JobResult (hybridwm.schemas):
                                                              metrics, training rows, timings

Jobs are module-level functions of plain arguments, so every executor can run them in another
process. The benchmark runs each one in a scratch folder of its worker, given the files of its
job folder that it may reuse (:data:`PREPARE_INPUTS`, :func:`fit_inputs`), and writes what it
sends back into the run directory itself (:mod:`~hybridwm.evaluation.pieces`); a job is
:func:`finished` when its ``eval/<model>.json`` reads back. Models are fitted, loaded and
evaluated on the device of the config's ``train`` (``device``; CPU when unset).
"""

from __future__ import annotations

import shutil
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import torch

from hybridwm.data import TrajectorySet, read_trajectories, write_trajectories
from hybridwm.errors import HybridWMError
from hybridwm.evaluation.config import ABLATIONS, VELOCITIES_AND_ACTIONS, BenchmarkConfig
from hybridwm.evaluation.energy import ground_truth_energy
from hybridwm.evaluation.evaluate import evaluate
from hybridwm.evaluation.inspection import residual_share, training_row
from hybridwm.models import WorldModel
from hybridwm.physics import DiscoverConfig, PhysicsModel, discover
from hybridwm.schemas import (
    FIT_SCENARIO,
    Curve,
    JobResult,
    MetricRow,
    SampleEpisodes,
    TrainingRow,
)
from hybridwm.systems import simulate

__all__ = [
    "PREPARE_INPUTS",
    "finished",
    "fit_and_evaluate",
    "fit_inputs",
    "job_dir",
    "prepare",
]

#: second entropy word of the training-noise seed (the first is the simulation seed)
NOISE_SEED = 7919

T = TypeVar("T")


def _cached(path: Path, read: Callable[[Path], T]) -> T | None:
    """The cached result at ``path`` as ``read`` gives it, or None when there is none.

    A cache that ``read`` rejects (a truncated or corrupted file, a half-deleted model
    directory) is removed, with a warning naming it, and None returned: the step runs again.
    """
    if not path.exists():
        return None
    try:
        return read(path)
    except HybridWMError as exc:
        warnings.warn(
            f"The cached {str(path)!r} cannot be read back ({exc}); computing it again.",
            UserWarning,
            stacklevel=2,
        )
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
    return None


def job_dir(out: Path, system: str, seed: int) -> Path:
    """The folder of one (system, seed) job in the run directory ``out``."""
    return out / "jobs" / system / f"seed{seed}"


def finished(out: Path, system: str, seed: int, kind: str) -> bool:
    """Whether the (system, seed, kind) job of the run directory ``out`` is done: its result
    file ``eval/<kind>.json`` reads back (one that does not is removed, with a warning)."""
    return _cached(job_dir(out, system, seed) / "eval" / f"{kind}.json", JobResult.read) is not None


#: the files of a job folder that :func:`prepare` may reuse
PREPARE_INPUTS = ("data/*", "physics.json")


def fit_inputs(cfg: BenchmarkConfig, kind: str) -> tuple[str, ...]:
    """The files of a job folder that :func:`fit_and_evaluate` of ``kind`` may reuse: the
    data, the physics, its models (fitted and adapted) and its result file."""
    adapted = tuple(f"models/{kind}-{cfg.adapted(sc)}/*" for sc in cfg.adapt)
    return (*PREPARE_INPUTS, f"models/{kind}/*", *adapted, f"eval/{kind}.json")


# ---------------------------------------------------------------------------- prepare
class _Record(NamedTuple):
    """One simulated record of a job: ``data/<stem>.parquet``."""

    stem: str
    scenario: str
    n_trajectories: int
    duration: float
    seed: int
    noisy: bool


def _records(cfg: BenchmarkConfig, seed: int) -> list[_Record]:
    """The training record, the evaluation episodes and the calibration records of the
    adapted scenarios of job ``seed``."""
    records = [_Record("train", "train", cfg.n_train, cfg.duration, seed, True)]
    records += [_Record(sc, sc, cfg.n_eval, cfg.eval_duration, seed, False) for sc in cfg.scenarios]
    calibration_seed = cfg.calibration_seed(seed)
    records += [
        _Record(f"{sc}-calibration", sc, a.n_trajectories, a.duration, calibration_seed, True)
        for sc, a in cfg.adapt.items()
    ]
    return records


def _simulate(cfg: BenchmarkConfig, system: str, record: _Record, path: Path) -> None:
    # the record's scenario, n_trajectories, duration and seed are simulate's arguments
    settings = {k: v for k, v in record._asdict().items() if k not in ("stem", "noisy")}
    ts = simulate(system=system, dt=cfg.dt, **settings)
    if record.noisy and cfg.noise > 0:
        ts = ts.add_noise(cfg.noise, seed=[record.seed, NOISE_SEED])
    write_trajectories(ts, path)


def _discover(cfg: BenchmarkConfig, system: str, seed: int, train: TrajectorySet) -> PhysicsModel:
    settings = {**cfg.discover.get("*", {}), **cfg.discover.get(system, {})}
    settings.setdefault("seed", seed)
    if cfg.noise > 0:
        settings.setdefault("differentiation", "smoothed_finite_difference")
    return discover(train, config=DiscoverConfig.from_dict(settings))


def prepare(cfg: BenchmarkConfig, out: str, system: str, seed: int) -> str:
    """Simulate the train, evaluation and calibration data of one (system, seed) and discover
    its physics; returns the job folder."""
    torch.set_num_threads(1)
    job = job_dir(Path(out), system, seed)
    for record in _records(cfg, seed):
        path = job / "data" / f"{record.stem}.parquet"
        if _cached(path, read_trajectories) is None:
            _simulate(cfg, system, record, path)
    phys_path = job / "physics.json"
    if _cached(phys_path, PhysicsModel.load) is None:
        train = read_trajectories(job / "data" / "train.parquet")
        _discover(cfg, system, seed, train).save(phys_path)
    return str(job)


# ---------------------------------------------------------------------------- fit + evaluate
def _fit_or_load(
    cfg: BenchmarkConfig, job: Path, seed: int, kind: str, train: TrajectorySet
) -> tuple[WorldModel, float]:
    """The model ``kind`` fitted on ``train`` (loaded from the job's cache when there) and the
    seconds the fit took (NaN when loaded)."""
    model_dir = job / "models" / kind
    config = cfg.train_config(seed, kind)
    cached = _cached(model_dir, partial(WorldModel.load, device=config.device))
    if cached is not None:
        return cached, float("nan")
    started = time.perf_counter()
    base, _, params = ABLATIONS.get(kind, (kind, {}, {}))
    params = _resolved(params, train)
    phys = PhysicsModel.load(job / "physics.json")
    model = WorldModel.from_kind(
        base, physics=None if base == "learned" else phys, hidden=cfg.hidden, **params
    )
    model.fit(train, config=config)
    fit_time = time.perf_counter() - started
    model.save(model_dir)
    return model, fit_time


def _resolved(params: dict[str, Any], train: TrajectorySet) -> dict[str, Any]:
    """An ablation's architecture fields for the system of ``train``: the
    :data:`VELOCITIES_AND_ACTIONS` placeholder becomes the second half of its states (a
    benchmark system's states are its joints' positions, then their velocities, one each) and
    its actions."""
    if params.get("residual_inputs") != VELOCITIES_AND_ACTIONS:
        return params
    names = tuple(train.state_names)
    velocities = names[len(names) // 2 :]
    return {**params, "residual_inputs": (*velocities, *train.action_names)}


def _adapt_or_load(
    cfg: BenchmarkConfig, job: Path, seed: int, kind: str, scenario: str
) -> tuple[WorldModel, float]:
    """The fitted model ``kind`` after ``WorldModel.adapt`` to ``scenario``'s calibration
    record (loaded from the job's cache when there) and the seconds it took (NaN when
    loaded)."""
    adapted_dir = job / "models" / f"{kind}-{cfg.adapted(scenario)}"
    config = cfg.train_config(seed, kind, adapt=scenario)
    cached = _cached(adapted_dir, partial(WorldModel.load, device=config.device))
    if cached is not None:
        return cached, float("nan")
    started = time.perf_counter()
    calibration = read_trajectories(job / "data" / f"{scenario}-calibration.parquet")
    fitted = WorldModel.load(job / "models" / kind, device=config.device)
    adapted = fitted.adapt(calibration, config, parts="auto")
    adapt_time = time.perf_counter() - started
    adapted.save(adapted_dir)
    return adapted, adapt_time


@dataclass
class _JobResults:
    """What one (system, seed, model) job measures, gathered scenario by scenario.

    The metric and training rows are decided by the config and seed; the wall-clock
    ``timings`` are kept apart from them (``timings.json``), so ``results.json`` is the same
    on a loaded machine and an idle one.
    """

    system: str
    seed: int
    kind: str
    n_samples: int
    vpt_threshold: float
    metrics: list[MetricRow] = field(default_factory=list)
    curves: list[Curve] = field(default_factory=list)
    samples: dict[str, SampleEpisodes] = field(default_factory=dict)
    training: list[TrainingRow] = field(default_factory=list)
    timings: list[MetricRow] = field(default_factory=list)

    def _row(self, scenario: str, metric: str, value: float) -> MetricRow:
        return MetricRow(
            system=self.system,
            model=self.kind,
            scenario=scenario,
            seed=self.seed,
            metric=metric,
            value=value,
        )

    def evaluate(
        self,
        model: WorldModel,
        data: TrajectorySet,
        label: str,
        energy: Callable[..., Any] | None,
    ) -> None:
        """Evaluate ``model`` on ``data`` and record it under the scenario name ``label``,
        with the residual's share of the field on the data's states (models with physics
        and a residual).

        Args:
            model: the fitted (or adapted) model.
            data: the scenario's evaluation episodes.
            label: the scenario name the numbers are recorded under.
            energy: ``energy(x)`` mapping (..., n_x) states to (...,) energies, or None.
        """
        ev = evaluate(model, data, vpt_threshold=self.vpt_threshold, energy=energy)
        self.metrics += [self._row(label, metric, value) for metric, value in ev.metrics.items()]
        share = residual_share(model, data)
        if share is not None:
            self.metrics.append(self._row(label, "residual_share", share))
        self.curves.append(Curve(scenario=label, t=ev.t.tolist(), nrmse=ev.curve.tolist()))
        k = min(self.n_samples, len(ev.pred))
        self.samples[label] = SampleEpisodes(
            truth=[a.tolist() for a in ev.truth[:k]],
            pred=[a.tolist() for a in ev.pred[:k]],
            t=[a.tolist() for a in ev.times[:k]],
        )

    def trained(
        self, model: WorldModel, start: PhysicsModel | None, scenario: str, seconds: float
    ) -> None:
        """Record the training run of ``model`` (the fit for scenario ``"train"``, else its
        adaptation to ``scenario``): its training row and its wall time ``seconds``."""
        adapted = scenario != FIT_SCENARIO
        self.training.append(
            training_row(
                model,
                start,
                system=self.system,
                kind=self.kind,
                seed=self.seed,
                scenario=scenario,
                adapted=adapted,
            )
        )
        self.timings.append(self._row(scenario, "adapt_time" if adapted else "fit_time", seconds))


def fit_and_evaluate(cfg: BenchmarkConfig, out: str, system: str, seed: int, kind: str) -> str:
    """Fit one model kind on one (system, seed) and evaluate it on every scenario (and, for the
    scenarios in ``adapt``, once more after adapting it to their calibration record); returns
    the path of the job file ``eval/<kind>.json``."""
    torch.set_num_threads(1)
    job = job_dir(Path(out), system, seed)
    eval_path = job / "eval" / f"{kind}.json"
    if _cached(eval_path, JobResult.read) is not None:
        return str(eval_path)
    train = read_trajectories(job / "data" / "train.parquet")
    model, fit_time = _fit_or_load(cfg, job, seed, kind, train)
    start = None if model.kind == "learned" else PhysicsModel.load(job / "physics.json")
    results = _JobResults(system, seed, kind, cfg.n_samples, cfg.vpt_threshold)
    data = {sc: read_trajectories(job / "data" / f"{sc}.parquet") for sc in cfg.scenarios}
    energy = {sc: ground_truth_energy(system, d, scenario=sc) for sc, d in data.items()}
    for sc in cfg.scenarios:
        results.evaluate(model, data[sc], sc, energy[sc])
    results.trained(model, start, FIT_SCENARIO, fit_time)
    for sc in cfg.adapt:
        adapted, adapt_time = _adapt_or_load(cfg, job, seed, kind, sc)
        results.evaluate(adapted, data[sc], cfg.adapted(sc), energy[sc])
        results.trained(adapted, start, cfg.adapted(sc), adapt_time)
    JobResult(
        metrics=results.metrics,
        curves=results.curves,
        samples=results.samples,
        state_names=list(train.state_names),
        training=results.training,
        timings=results.timings,
    ).write(eval_path)
    return str(eval_path)
