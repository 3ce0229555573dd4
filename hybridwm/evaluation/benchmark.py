"""The benchmark grid: systems × model kinds × scenarios × seeds, cached in a run directory.

Each (system, seed) pair is *prepared* once (simulate the training and evaluation scenarios,
discover the physics); then each (system, seed, model) job fits one model and evaluates it on
every scenario. Every step writes its own files atomically and is skipped when they already
exist, so an interrupted benchmark resumes where it stopped. Jobs run through a small executor
interface: in-process, a local process pool, or Ray (``pip install ray``) for sweeps that
outgrow one machine.

Layout of ``<out>`` (the report's inputs are documented in :mod:`hybridwm.reports.rundir`)::

    config.json                         the BenchmarkConfig
    results.json, metrics.parquet, curves.parquet, samples/   the collected results
    jobs/<system>/seed<k>/data/<scenario>.parquet             simulated ground truth
    jobs/<system>/seed<k>/physics.json                        discovered equations
    jobs/<system>/seed<k>/models/<model>/                     fitted WorldModel run directory
    jobs/<system>/seed<k>/eval/<model>.json                   metrics, curves, sample predictions

Adaptation (``BenchmarkConfig.adapt``): for each scenario named there, ``_prepare`` also
simulates a short calibration record ``data/<scenario>-calibration.parquet`` of that scenario's
system (same shifted parameters, other random draws), and each model is evaluated twice on the
scenario: zero-shot (as every scenario) and after ``WorldModel.adapt(calibration, parts="auto")``
with the same calibration data and training budget for every kind, under the scenario name
``<scenario>-adapted``. The adapted model is cached in ``models/<model>-<scenario>-adapted/``.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hybridwm._io import atomic_path, atomic_write_json
from hybridwm.config import Config, load_mapping
from hybridwm.errors import ConfigError, FormatError, UnknownNameError
from hybridwm.registry import Registry

__all__ = [
    "MODEL_KINDS",
    "PRESETS",
    "BenchmarkConfig",
    "benchmark",
    "load_preset",
]

MODEL_KINDS = ("learned", "physics", "hybrid", "hybrid-no-pinn")
SCENARIOS = ("id", "ood-state", "ood-action", "ood-params")
RESULTS_VERSION = 1
ADAPT_KEYS = ("n_trajectories", "duration", "train")
ADAPT_DEFAULTS: dict[str, Any] = {"n_trajectories": 4, "duration": 2.0, "train": {}}
ADAPTED_SUFFIX = "-adapted"
CALIBRATION_SEED_STEP = 1000


@dataclass
class BenchmarkConfig(Config):
    """Settings of :func:`benchmark` (fields map 1:1 to a preset TOML file).

    Attributes:
        preset: name of the preset this config came from (informational).
        systems: system names (see ``hybridwm systems``).
        models: model kinds among ``learned``, ``physics``, ``hybrid``, ``hybrid-no-pinn``
            (the hybrid trained without the PINN residual loss: an ablation).
        scenarios: evaluation scenarios (``id``, ``ood-state``, ``ood-action``, ``ood-params``).
        seeds: one job per seed; the seed drives data, discovery bagging and training.
        n_train: training trajectories per system and seed (``train`` scenario).
        n_eval: trajectories per evaluation scenario.
        duration: seconds per training trajectory.
        eval_duration: seconds per evaluation trajectory (the open-loop horizon).
        dt: sample and control period in seconds.
        noise: Gaussian noise on the training states, as a fraction of each state's std.
        hidden: hidden widths of the learned network (the learned model and the residual).
        train: TrainConfig fields shared by every trained model (budgets: ``max_time``,
            ``epochs``, ...). The same budget for every kind keeps the comparison fair.
        discover: DiscoverConfig fields per system (``{"cartpole": {"library": ...}}``); the
            key ``"*"`` applies to every system.
        vpt_threshold: normalised error at which a prediction stops being valid.
        n_samples: episodes per scenario kept for the rollout plots.
        workers: parallel jobs (1: run in this process).
        executor: ``"local"`` (process pool) or ``"ray"``.
        adapt: scenario name → calibration settings, e.g. ``{"ood-params": {"n_trajectories":
            4, "duration": 2.0, "train": {"max_time": 20.0}}}``: each model is also evaluated
            on that scenario after ``WorldModel.adapt`` on ``n_trajectories`` calibration
            trajectories of ``duration`` seconds (defaults 4 and 2.0) of the scenario's system,
            simulated with another seed than its evaluation episodes, under the scenario name
            ``<scenario>-adapted``. ``train`` holds TrainConfig fields for the adaptation,
            applied over ``train`` above; the same for every model kind.
    """

    preset: str = "custom"
    systems: tuple[str, ...] = ("pendulum", "cartpole")
    models: tuple[str, ...] = MODEL_KINDS
    scenarios: tuple[str, ...] = SCENARIOS
    seeds: tuple[int, ...] = (0,)
    n_train: int = 32
    n_eval: int = 16
    duration: float = 3.0
    eval_duration: float = 3.0
    dt: float = 0.01
    noise: float = 0.0
    hidden: tuple[int, ...] = (64, 64)
    train: dict[str, Any] = field(default_factory=dict)
    discover: dict[str, dict[str, Any]] = field(default_factory=dict)
    vpt_threshold: float = 0.1
    n_samples: int = 2
    workers: int = 1
    executor: str = "local"
    adapt: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from hybridwm.systems import SYSTEMS, get_scenario

        for name in self.systems:
            SYSTEMS[name]
            for sc in ("train", *self.scenarios):
                get_scenario(name, sc)
        if not self.systems or not self.models or not self.scenarios or not self.seeds:
            raise ConfigError(
                "A benchmark needs at least one system, model, scenario and seed. Got "
                f"systems={list(self.systems)}, models={list(self.models)}, "
                f"scenarios={list(self.scenarios)}, seeds={list(self.seeds)}."
            )
        bad = [m for m in self.models if m not in MODEL_KINDS]
        if bad:
            raise UnknownNameError(
                f"Unknown model kind(s) {bad} in `models`. Valid names: {list(MODEL_KINDS)}."
            )
        for name in ("n_train", "n_eval", "workers"):
            v = getattr(self, name)
            if isinstance(v, bool) or int(v) != v or v < 1:
                raise ConfigError(f"BenchmarkConfig.{name} must be an integer >= 1. Got {v!r}.")
        for name in ("duration", "eval_duration", "dt", "vpt_threshold"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and np.isfinite(v) and v > 0):
                raise ConfigError(f"BenchmarkConfig.{name} must be > 0. Got {v!r}.")
        if self.noise < 0:
            raise ConfigError(f"BenchmarkConfig.noise must be >= 0. Got {self.noise!r}.")
        if self.executor not in EXECUTORS:
            EXECUTORS[self.executor]
        from hybridwm.physics import DiscoverConfig
        from hybridwm.training import TrainConfig

        TrainConfig.from_dict(dict(self.train))
        for key, overrides in self.discover.items():
            if key != "*" and key not in self.systems:
                raise ConfigError(
                    f"`discover` has settings for {key!r}, which is not among the benchmark's "
                    f"systems {list(self.systems)} (use '*' for all)."
                )
            DiscoverConfig.from_dict(dict(overrides))
        self._check_adapt()

    def _check_adapt(self) -> None:
        from hybridwm.training import TrainConfig

        if not isinstance(self.adapt, dict):
            raise ConfigError(
                f"BenchmarkConfig.adapt must map scenario names to calibration settings, e.g. "
                f'{{"ood-params": {{"n_trajectories": 4, "duration": 2.0}}}}. Got {self.adapt!r}.'
            )
        for sc, settings in self.adapt.items():
            where = f"BenchmarkConfig.adapt[{sc!r}]"
            if sc not in self.scenarios:
                raise UnknownNameError(
                    f"`adapt` has settings for scenario {sc!r}, which is not among the "
                    f"benchmark's scenarios {list(self.scenarios)}; add it to `scenarios` or "
                    f"name one of them."
                )
            if not isinstance(settings, dict):
                raise ConfigError(
                    f"{where} must be a table of settings {list(ADAPT_KEYS)}. Got {settings!r}."
                )
            unknown = sorted(set(settings) - set(ADAPT_KEYS))
            if unknown:
                raise ConfigError(
                    f"Unknown setting(s) {unknown} in {where}. Valid: {list(ADAPT_KEYS)}."
                )
            n = settings.get("n_trajectories", ADAPT_DEFAULTS["n_trajectories"])
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise ConfigError(f"{where}.n_trajectories must be an integer >= 1. Got {n!r}.")
            dur = settings.get("duration", ADAPT_DEFAULTS["duration"])
            if isinstance(dur, bool) or not isinstance(dur, (int, float)) or not dur >= self.dt:
                raise ConfigError(
                    f"{where}.duration must be a number of seconds >= dt ({self.dt}). Got {dur!r}."
                )
            train = settings.get("train", {})
            if not isinstance(train, dict):
                raise ConfigError(f"{where}.train must be a table of TrainConfig fields.")
            TrainConfig.from_dict({**self.train, **train})

    def adapt_settings(self, scenario: str) -> dict[str, Any]:
        """The calibration settings of ``scenario`` with defaults filled in."""
        return {**ADAPT_DEFAULTS, **self.adapt[scenario]}

    def calibration_seed(self, seed: int) -> int:
        """Seed of the calibration records of job ``seed``: ``seed + 1000`` (stepped on by 1000
        while it is one of the benchmark's seeds, so it never repeats an evaluation draw)."""
        s = int(seed) + CALIBRATION_SEED_STEP
        while s in set(self.seeds):
            s += CALIBRATION_SEED_STEP
        return s


# ---------------------------------------------------------------------------------- presets
PRESETS: Registry[str] = Registry("benchmark preset", "`preset`")
for _name in ("quick", "full"):
    PRESETS.register(_name, f"{_name}.toml")


def load_preset(name: str, **overrides: Any) -> BenchmarkConfig:
    """The BenchmarkConfig of a shipped preset (``quick``, ``full``), with field overrides."""
    file = PRESETS[name]
    ref = resources.files("hybridwm.evaluation").joinpath("presets", file)
    with resources.as_file(ref) as path:
        data = load_mapping(path)
    data.update(overrides)
    data.setdefault("preset", name)
    return BenchmarkConfig.from_dict(data)


# ---------------------------------------------------------------------------------- executors
def _run_serial(
    fn: Callable[..., Any], jobs: Sequence[tuple[Any, ...]], workers: int
) -> Iterable[Any]:
    for job in jobs:
        yield fn(*job)


def _run_local(
    fn: Callable[..., Any], jobs: Sequence[tuple[Any, ...]], workers: int
) -> Iterable[Any]:
    if workers <= 1 or len(jobs) <= 1:
        yield from _run_serial(fn, jobs, workers)
        return
    import multiprocessing as mp

    ctx = mp.get_context("spawn")  # torch and MuJoCo thread pools do not survive fork
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=ctx) as pool:
        futures = [pool.submit(fn, *job) for job in jobs]
        for fut in as_completed(futures):
            yield fut.result()


def _run_ray(
    fn: Callable[..., Any], jobs: Sequence[tuple[Any, ...]], workers: int
) -> Iterable[Any]:
    try:
        import ray
    except ImportError:
        raise ImportError(
            "executor='ray' needs Ray: `pip install ray` (or `pip install 'ray[default]'`), "
            "or use executor='local'."
        ) from None
    if not ray.is_initialized():
        ray.init(ignore_reinit_error=True)
    remote = ray.remote(num_cpus=1)(fn)
    pending = [remote.remote(*job) for job in jobs]
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        yield ray.get(done[0])


EXECUTORS: Registry[Callable[..., Iterable[Any]]] = Registry("executor", "`executor`")
EXECUTORS.register("local", _run_local)
EXECUTORS.register("ray", _run_ray)


# ---------------------------------------------------------------------------------- jobs
def _job_dir(out: Path, system: str, seed: int) -> Path:
    return out / "jobs" / system / f"seed{seed}"


def _prepare(cfg_dict: dict[str, Any], out: str, system: str, seed: int) -> str:
    """Simulate the train and evaluation data of one (system, seed) and discover its physics."""
    import torch

    torch.set_num_threads(1)
    from hybridwm.data import read_trajectories, write_trajectories
    from hybridwm.physics import DiscoverConfig, discover
    from hybridwm.systems import simulate

    cfg = BenchmarkConfig.from_dict(cfg_dict)
    job = _job_dir(Path(out), system, seed)
    data_dir = job / "data"
    # (file stem, scenario, trajectories, duration, seed, noisy): the training record, the
    # evaluation episodes, and the calibration records of the adapted scenarios
    records = [("train", "train", cfg.n_train, cfg.duration, seed, True)]
    records += [(sc, sc, cfg.n_eval, cfg.eval_duration, seed, False) for sc in cfg.scenarios]
    for sc in cfg.adapt:
        a = cfg.adapt_settings(sc)
        records.append(
            (
                f"{sc}-calibration",
                sc,
                int(a["n_trajectories"]),
                float(a["duration"]),
                cfg.calibration_seed(seed),
                True,
            )
        )
    for stem, sc, n, dur, sim_seed, noisy in records:
        path = data_dir / f"{stem}.parquet"
        if path.exists():
            continue
        ts = simulate(
            system=system, scenario=sc, n_trajectories=n, duration=dur, dt=cfg.dt, seed=sim_seed
        )
        if noisy and cfg.noise > 0:
            ts = ts.add_noise(cfg.noise, seed=[sim_seed, 7919])
        write_trajectories(ts, path)
    phys_path = job / "physics.json"
    if not phys_path.exists():
        settings = {**cfg.discover.get("*", {}), **cfg.discover.get(system, {})}
        settings.setdefault("seed", seed)
        if cfg.noise > 0:
            settings.setdefault("differentiation", "smoothed_finite_difference")
        train = read_trajectories(data_dir / "train.parquet")
        model = discover(train, config=DiscoverConfig.from_dict(settings))
        model.save(phys_path)
    return str(job)


def _fit_and_evaluate(cfg_dict: dict[str, Any], out: str, system: str, seed: int, kind: str) -> str:
    """Fit one model kind on one (system, seed) and evaluate it on every scenario (and, for
    the scenarios in ``adapt``, once more after adapting it to their calibration record)."""
    import torch

    torch.set_num_threads(1)
    from hybridwm.data import read_trajectories
    from hybridwm.evaluation.evaluate import evaluate
    from hybridwm.models import WorldModel
    from hybridwm.physics import PhysicsModel
    from hybridwm.systems import get_scenario, get_system
    from hybridwm.training import TrainConfig

    cfg = BenchmarkConfig.from_dict(cfg_dict)
    job = _job_dir(Path(out), system, seed)
    eval_path = job / "eval" / f"{kind}.json"
    if eval_path.exists():
        return str(eval_path)
    model_dir = job / "models" / kind
    train = read_trajectories(job / "data" / "train.parquet")
    started = time.perf_counter()
    if (model_dir / "config.json").exists():
        wm = WorldModel.load(model_dir)
        fit_time = float("nan")
    else:
        phys = PhysicsModel.load(job / "physics.json")
        tcfg = TrainConfig.from_dict({"progress": False, "threads": 1, **cfg.train, "seed": seed})
        if kind == "learned":
            wm = WorldModel.learned(hidden=cfg.hidden)
        elif kind == "physics":
            wm = WorldModel.physics(phys)
        else:
            wm = WorldModel.hybrid(physics=phys, hidden=cfg.hidden)
            if kind == "hybrid-no-pinn":
                tcfg = tcfg.replace(pinn_weight=0.0)
        wm.fit(train, config=tcfg)
        fit_time = time.perf_counter() - started
        wm.save(model_dir)
    base = get_system(system)
    rows: list[dict[str, Any]] = []
    curves: list[dict[str, Any]] = []
    samples: dict[str, Any] = {}

    def row(scenario: str, metric: str, value: Any) -> dict[str, Any]:
        return {
            "system": system,
            "model": kind,
            "scenario": scenario,
            "seed": seed,
            "metric": metric,
            "value": value,
        }

    def evaluate_on(model: WorldModel, sc: str, label: str) -> None:
        data = read_trajectories(job / "data" / f"{sc}.parquet")
        params = data[0].meta.get("parameters") or get_scenario(system, sc).system_parameters(base)
        sys_sc = base.with_parameters(**params)
        energy = (lambda x, s=sys_sc: s.energy(x)) if sys_sc.n_x else None
        try:
            sys_sc.energy(data[0].x[:1])
        except Exception:
            energy = None
        ev = evaluate(model, data, vpt_threshold=cfg.vpt_threshold, energy=energy)
        rows.extend(row(label, metric, value) for metric, value in ev.metrics.items())
        curves.append({"scenario": label, "t": ev.t.tolist(), "nrmse": ev.curve.tolist()})
        k = min(cfg.n_samples, len(ev.pred))
        samples[label] = {
            "truth": [a.tolist() for a in ev.truth[:k]],
            "pred": [a.tolist() for a in ev.pred[:k]],
            "t": [a.tolist() for a in ev.times[:k]],
        }

    for sc in cfg.scenarios:
        evaluate_on(wm, sc, sc)
    rows.append(row("train", "fit_time", fit_time))
    for sc in cfg.adapt:
        label = f"{sc}{ADAPTED_SUFFIX}"
        adapted_dir = job / "models" / f"{kind}-{label}"
        started = time.perf_counter()
        if (adapted_dir / "config.json").exists():
            adapted = WorldModel.load(adapted_dir)
            adapt_time = float("nan")
        else:
            settings = cfg.adapt_settings(sc)
            acfg = TrainConfig.from_dict(
                {"progress": False, "threads": 1, **cfg.train, **settings["train"], "seed": seed}
            )
            if kind == "hybrid-no-pinn":
                acfg = acfg.replace(pinn_weight=0.0)
            calibration = read_trajectories(job / "data" / f"{sc}-calibration.parquet")
            adapted = WorldModel.load(model_dir).adapt(calibration, acfg, parts="auto")
            adapt_time = time.perf_counter() - started
            adapted.save(adapted_dir)
        evaluate_on(adapted, sc, label)
        rows.append(row(label, "adapt_time", adapt_time))
    atomic_write_json(
        eval_path,
        {
            "metrics": rows,
            "curves": curves,
            "samples": samples,
            "state_names": list(train.state_names),
        },
    )
    return str(eval_path)


# ---------------------------------------------------------------------------------- collect
def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("hybridwm", "torch", "torchdiffeq", "pysindy", "mujoco", "numpy"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:  # pragma: no cover
            out[pkg] = "not installed"
    out["machine"] = f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()}"
    return out


def _system_entry(system: str, physics_path: Path) -> dict[str, Any]:
    from hybridwm.physics import PhysicsModel
    from hybridwm.systems import get_system

    phys = PhysicsModel.load(physics_path)
    rational = phys.info.get("rational")
    rename = _numerator_names(phys) if rational else {}

    def view(df: pd.DataFrame, keep: pd.DataFrame | None = None) -> dict[str, dict[str, float]]:
        out = _nonzero(df, keep)
        return {eq: {rename.get(f, f): v for f, v in row.items()} for eq, row in out.items()}

    entry: dict[str, Any] = {
        "state_names": list(phys.state_names),
        "action_names": list(phys.action_names),
        "equations": phys.equations(),
        "equations_latex": phys.latex_equations(),
        "coefficients": view(phys.coefficients),
    }
    if rational:
        # the denominator's coefficients, as pseudo-features "D: z^k" of the rational rows
        for k, dk in enumerate(rational["coefficients"], start=1):
            for state in rational["rational_states"]:
                entry["coefficients"][state][_den_name(rational["z"], k, phys)] = float(dk)
    if phys.coef_std is not None:
        entry["coefficients_std"] = view(phys.coef_std, keep=phys.coefficients)
        entry["inclusion_probability"] = view(phys.inclusion_probability)
    try:
        true = get_system(system).true_equations()
    except Exception:  # no closed form for this system
        true = None
    if true is None:
        return entry
    names = (*phys.state_names, *phys.action_names)
    true_coefs = {
        k: {_canonical(f, names): c for f, c in v.items()} for k, v in true.coefficients.items()
    }
    if not true.denominator:
        entry["true_coefficients"] = true_coefs
    elif rational:
        # both are normalised to D = 1 + ...: numerators and D compare term by term
        for state, den in true.denominator.items():
            for f, c in den.items():
                if f != "1":
                    true_coefs.setdefault(state, {})[f"D: {_canonical(f, names)}"] = float(c)
        entry["true_coefficients"] = true_coefs
    else:
        entry["note"] = (
            "The exact equations are rational in the state (a common denominator "
            f"{dict(true.denominator)}); a polynomial/trigonometric library can only approximate "
            "them, which is the gap the hybrid residual is meant to close. Discovery with "
            "`denominator=...` finds the rational form."
        )
    return entry


def _scenario_entries(cfg: BenchmarkConfig) -> dict[str, dict[str, str]]:
    """``{system: {scenario: one-line description}}`` for the report's setup."""
    from hybridwm.systems import get_scenario, get_system

    out: dict[str, dict[str, str]] = {}
    for system in cfg.systems:
        base = get_system(system)
        rows = out.setdefault(system, {})
        for sc in ("train", *cfg.scenarios):
            scenario = get_scenario(system, sc)
            changed = {
                k: v
                for k, v in scenario.system_parameters(base).items()
                if v != base.defaults.get(k)
            }
            text = scenario.description
            if changed:
                text += " Parameters: " + ", ".join(f"{k} = {v:g}" for k, v in changed.items())
                text += "."
            rows[sc] = text
        for sc in cfg.adapt:
            st = cfg.adapt_settings(sc)
            rows[f"{sc}{ADAPTED_SUFFIX}"] = (
                f"The {sc} episodes again, after every model was recalibrated "
                f"(WorldModel.adapt, parts='auto') on {st['n_trajectories']} × "
                f"{st['duration']:g} s of the changed system, with the same budget for every kind."
            )
    return out


def _canonical(feature: str, names: Sequence[str]) -> str:
    """A feature's printed name after parsing, so that equal expressions compare equal."""
    from hybridwm.errors import ParseError
    from hybridwm.physics.expressions import expr_name, parse_expression

    try:
        return expr_name(parse_expression(feature, names))
    except (ParseError, UnknownNameError):  # not an expression over these names: keep the text
        return feature


def _numerator_names(phys: Any) -> dict[str, str]:
    """Feature name -> its numerator's name, for the features ``numerator / D`` of a rational
    model."""
    import sympy as sp

    from hybridwm.physics.expressions import expr_name

    out = {}
    for name, expr in zip(phys.feature_names, phys.library.exprs, strict=True):
        num, den = sp.fraction(expr)
        if den != 1 and den.free_symbols:
            out[name] = expr_name(num)
    return out


def _den_name(z: str, k: int, phys: Any) -> str:
    names = (*phys.state_names, *phys.action_names)
    return f"D: {_canonical(z if k == 1 else f'({z})^{k}', names)}"


def _floats(values: list[Any]) -> list[float]:
    """JSON numbers back to floats: ``null`` is NaN and ``"inf"``/``"-inf"`` are infinities
    (what :func:`hybridwm._io.to_jsonable` writes for a diverged rollout's errors)."""
    return [math.nan if v is None else float(v) for v in values]


def _nonzero(df: pd.DataFrame, keep: pd.DataFrame | None = None) -> dict[str, dict[str, float]]:
    ref = df if keep is None else keep
    return {
        str(eq): {str(f): float(df.loc[eq, f]) for f in df.columns if ref.loc[eq, f] != 0}
        for eq in df.index
    }


def _is_cost(row: dict[str, Any]) -> bool:
    """Fit and adaptation times go to ``results.json``'s ``fit`` list, not to ``metrics``."""
    return row["scenario"] == "train" or row["metric"] == "adapt_time"


def _collect(cfg: BenchmarkConfig, out: Path, started: str) -> Path:
    metrics: list[dict[str, Any]] = []
    curves: list[pd.DataFrame] = []
    samples: dict[tuple[str, str], list[pd.DataFrame]] = {}
    systems: dict[str, Any] = {}
    for system in cfg.systems:
        seed0 = cfg.seeds[0]
        systems[system] = _system_entry(system, _job_dir(out, system, seed0) / "physics.json")
        for seed in cfg.seeds:
            for kind in cfg.models:
                path = _job_dir(out, system, seed) / "eval" / f"{kind}.json"
                res = json.loads(path.read_text())
                metrics.extend(res["metrics"])
                names = res["state_names"]
                for c in res["curves"]:
                    curves.append(
                        pd.DataFrame(
                            {
                                "system": system,
                                "model": kind,
                                "scenario": c["scenario"],
                                "seed": seed,
                                "t": c["t"],
                                "nrmse": _floats(c["nrmse"]),
                            }
                        )
                    )
                if seed != seed0:
                    continue
                for sc, s in res["samples"].items():
                    frames = samples.setdefault((system, sc), [])
                    sources = [("pred", kind)] if frames else [("truth", "truth"), ("pred", kind)]
                    for key, source in sources:
                        for e, arr in enumerate(s[key]):
                            df = pd.DataFrame(np.asarray(arr, dtype=np.float64), columns=names)
                            df.insert(0, "source", source)
                            df.insert(0, "t", s["t"][e])
                            df.insert(0, "episode", e)
                            frames.append(df)
    results = {
        "format_version": RESULTS_VERSION,
        "setup": {
            **_versions(),
            "preset": cfg.preset,
            "started": started,
            "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        },
        "systems": systems,
        "scenarios": _scenario_entries(cfg),
        "metrics": [r for r in metrics if not _is_cost(r)],
        "fit": [r for r in metrics if _is_cost(r)],
    }
    atomic_write_json(out / "results.json", results)
    table = pd.DataFrame(
        metrics, columns=["system", "model", "scenario", "seed", "metric", "value"]
    )
    table["value"] = table["value"].astype(float)
    with atomic_path(out / "metrics.parquet") as tmp:
        table.to_parquet(tmp, index=False)
    with atomic_path(out / "curves.parquet") as tmp:
        pd.concat(curves, ignore_index=True).to_parquet(tmp, index=False)
    for (system, sc), frames in samples.items():
        with atomic_path(out / "samples" / f"{system}__{sc}.parquet") as tmp:
            pd.concat(frames, ignore_index=True).to_parquet(tmp, index=False)
    return out / "results.json"


# ---------------------------------------------------------------------------------- entry point
def benchmark(
    config: BenchmarkConfig | str = "quick",
    out: str | os.PathLike[str] = "runs/bench",
    *,
    progress: bool = True,
    report: bool = True,
) -> Path:
    """Run (or resume) the benchmark grid and collect its results in ``out``.

    Args:
        config: a BenchmarkConfig or a preset name (``"quick"``, ``"full"``).
        out: the run directory. Steps whose files exist there are not run again, so an
            interrupted benchmark resumes; a directory holding a different config is refused.
        progress: show a progress bar over jobs.
        report: also render ``report.html`` / ``report.md`` / ``summary.json``.

    Returns:
        The path of ``results.json``.

    Raises:
        ConfigError: ``out`` holds a benchmark with another configuration.
    """
    cfg = load_preset(config) if isinstance(config, str) else config
    if not isinstance(cfg, BenchmarkConfig):
        raise ConfigError(f"`config` must be a BenchmarkConfig or a preset name. Got {config!r}.")
    out_dir = Path(out)
    cfg_path = out_dir / "config.json"
    if cfg_path.exists():
        try:
            previous = json.loads(cfg_path.read_text())
        except json.JSONDecodeError:
            raise FormatError(
                f"{cfg_path} is not valid JSON; remove it or choose another --out."
            ) from None
        if isinstance(previous, dict):
            # fields added since that run was written (e.g. `adapt`) take their defaults
            previous = {**BenchmarkConfig().to_dict(), **previous}
        if previous != cfg.to_dict():
            changed = sorted(k for k in cfg.to_dict() if previous.get(k) != cfg.to_dict()[k])
            raise ConfigError(
                f"{out_dir} already holds a benchmark with a different configuration (fields "
                f"{changed} differ). Use another --out, or delete {out_dir} to start over."
            )
    cfg.save(cfg_path)
    started = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    run = EXECUTORS[cfg.executor]
    cfg_dict = cfg.to_dict()
    prepare_jobs = [(cfg_dict, str(out_dir), s, k) for s in cfg.systems for k in cfg.seeds]
    model_jobs = [
        (cfg_dict, str(out_dir), s, k, m)
        for s in cfg.systems
        for k in cfg.seeds
        for m in cfg.models
    ]
    if cfg.workers <= 1 and cfg.executor == "local":
        run = _run_serial
    _with_progress(run, _prepare, prepare_jobs, cfg.workers, "simulate + discover", progress)
    _with_progress(run, _fit_and_evaluate, model_jobs, cfg.workers, "fit + evaluate", progress)
    path = _collect(cfg, out_dir, started)
    if report:
        from hybridwm.reports import render_report

        render_report(out_dir)
    return path


def _with_progress(
    run: Callable[..., Iterable[Any]],
    fn: Callable[..., Any],
    jobs: list[tuple[Any, ...]],
    workers: int,
    label: str,
    progress: bool,
) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    if not progress:
        for _ in run(fn, jobs, workers):
            pass
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task(label, total=len(jobs))
        for _ in run(fn, jobs, workers):
            bar.advance(task)
