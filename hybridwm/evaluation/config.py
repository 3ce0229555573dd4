"""The benchmark's settings: :class:`BenchmarkConfig`, its adaptation part and the presets.

A config maps 1:1 to a preset TOML file (``hybridwm/evaluation/presets/*.toml``) and is written
as ``config.json`` in the run directory, so a run can be resumed and its report shows what ran.
"""

from __future__ import annotations

from importlib import resources
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator

from hybridwm.config import Config, load_mapping
from hybridwm.errors import ConfigError, UnknownNameError
from hybridwm.evaluation.executors import EXECUTORS
from hybridwm.models import KINDS
from hybridwm.physics import DiscoverConfig
from hybridwm.registry import Registry
from hybridwm.schemas import ADAPTED_SUFFIX
from hybridwm.systems import SYSTEMS, get_scenario
from hybridwm.training import TrainConfig

__all__ = [
    "ABLATIONS",
    "MODEL_KINDS",
    "PRESETS",
    "SCENARIOS",
    "VELOCITIES_AND_ACTIONS",
    "AdaptSettings",
    "BenchmarkConfig",
    "load_preset",
]

#: stands for a system's velocities and actions in an ablation's ``residual_inputs``
VELOCITIES_AND_ACTIONS = "<velocities and actions>"
#: the benchmark's ablations: name -> (WorldModel kind, TrainConfig fields it changes,
#: WorldModel architecture fields it changes)
ABLATIONS: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    # the hybrid trained without the PINN residual loss
    "hybrid-no-pinn": ("hybrid", {"pinn_weight": 0.0}, {}),
    # the hybrid whose residual acts everywhere, also off the training data (no support gate)
    "hybrid-no-gate": ("hybrid", {}, {"gate": "off"}),
    # the hybrid whose support gate also measures the distance in the actions
    "hybrid-gate-inputs": ("hybrid", {}, {"gate": "inputs"}),
    # the hybrid whose discovered coefficients train with the residual (physics first, then
    # jointly); the plain hybrid keeps discovered physics as discovered
    "hybrid-trained-physics": ("hybrid", {}, {"trainable_physics": True}),
    # the hybrid whose residual reads the velocities and actions only (not the positions or
    # angles): friction, drag and actuator effects, which keep acting at configurations the
    # data never reached (resolved per system: states are positions, then velocities)
    "hybrid-velocity-residual": ("hybrid", {}, {"residual_inputs": VELOCITIES_AND_ACTIONS}),
}
MODEL_KINDS = (*KINDS, *ABLATIONS)
SCENARIOS = ("id", "ood-state", "ood-action", "ood-params")
CALIBRATION_SEED_STEP = 1000
_ADAPT_EXAMPLE = '{"ood-params": {"n_trajectories": 4, "duration": 2.0}}'


class AdaptSettings(Config):
    """Calibration of one adapted scenario (``BenchmarkConfig.adapt[scenario]``).

    Attributes:
        n_trajectories: calibration trajectories of the scenario's system.
        duration: seconds per calibration trajectory (at least ``BenchmarkConfig.dt``).
        train: TrainConfig fields for the adaptation, applied over ``BenchmarkConfig.train``;
            the same for every model kind.
    """

    n_trajectories: int = Field(4, ge=1, strict=True)
    duration: float = Field(2.0, gt=0, allow_inf_nan=False)
    train: dict[str, Any] = Field(default_factory=dict)


class BenchmarkConfig(Config):
    """Settings of :func:`~hybridwm.evaluation.benchmark` (fields map 1:1 to a preset TOML file).

    Attributes:
        preset: name of the preset this config came from (informational).
        systems: system names (see ``hybridwm systems``).
        models: model kinds among ``learned``, ``physics``, ``hybrid`` and the hybrid's
            ablations (:data:`ABLATIONS`): ``hybrid-no-pinn`` (trained without the PINN
            residual loss), ``hybrid-no-gate`` (its residual acting also off the data),
            ``hybrid-gate-inputs`` (a gate on states and actions) and
            ``hybrid-trained-physics`` (discovered coefficients trained with the residual)
            and ``hybrid-velocity-residual`` (a residual that reads the velocities and actions
            only).
        scenarios: evaluation scenarios (``id``, ``ood-state``, ``ood-action``, ``ood-params``).
        seeds: one job per seed; the seed drives data, discovery bagging and training.
        n_train: training trajectories per system and seed (``train`` scenario).
        n_eval: trajectories per evaluation scenario.
        duration: seconds per training trajectory.
        eval_duration: seconds per evaluation trajectory (the open-loop horizon).
        dt: sample and control period in seconds.
        noise: Gaussian noise on the training states, as a fraction of each state's std.
        hidden: hidden widths of the learned network (the learned model and the residual).
        train: TrainConfig fields shared by every trained model (the budget ``steps`` in
            optimizer steps, ``max_time`` as a safety cap, ...). The same data and the same
            number of optimizer steps for every kind keep the comparison fair and the numbers
            the same on a busy or an idle machine.
        discover: DiscoverConfig fields per system (``{"cartpole": {"library": ...}}``); the
            key ``"*"`` applies to every system.
        vpt_threshold: normalised error at which a prediction stops being valid.
        n_samples: episodes per scenario kept for the rollout plots.
        workers: parallel jobs (1: run in this process).
        executor: ``"local"`` (process pool), ``"ray"`` or ``"serial"`` (this process).
        adapt: scenario name → :class:`AdaptSettings`, e.g. ``{"ood-params": {"n_trajectories":
            4, "duration": 2.0, "train": {"steps": 200}}}``: each model is also evaluated
            on that scenario after ``WorldModel.adapt`` on ``n_trajectories`` calibration
            trajectories of ``duration`` seconds of the scenario's system, simulated with
            another seed than its evaluation episodes, under the scenario name
            ``<scenario>-adapted``.
    """

    preset: str = "custom"
    systems: tuple[str, ...] = ("pendulum", "cartpole")
    models: tuple[str, ...] = MODEL_KINDS
    scenarios: tuple[str, ...] = SCENARIOS
    seeds: tuple[int, ...] = (0,)
    n_train: int = Field(32, ge=1, strict=True)
    n_eval: int = Field(16, ge=1, strict=True)
    duration: float = Field(3.0, gt=0, allow_inf_nan=False)
    eval_duration: float = Field(3.0, gt=0, allow_inf_nan=False)
    dt: float = Field(0.01, gt=0, allow_inf_nan=False)
    noise: float = Field(0.0, ge=0, allow_inf_nan=False)
    hidden: tuple[Annotated[int, Field(ge=1)], ...] = (64, 64)
    train: dict[str, Any] = Field(default_factory=dict)
    discover: dict[str, dict[str, Any]] = Field(default_factory=dict)
    vpt_threshold: float = Field(0.1, gt=0, allow_inf_nan=False)
    n_samples: int = Field(2, ge=0, strict=True)
    workers: int = Field(1, ge=1, strict=True)
    executor: str = "local"
    adapt: dict[str, AdaptSettings] = Field(default_factory=dict)

    @field_validator("executor")
    @classmethod
    def _known_executor(cls, name: str) -> str:
        EXECUTORS[name]  # the registry's error lists the valid names
        return name

    @field_validator("adapt", mode="before")
    @classmethod
    def _adapt_settings(cls, adapt: Any) -> Any:
        """Each scenario's settings as AdaptSettings, with errors that name the scenario."""
        if not isinstance(adapt, dict):
            raise ConfigError(
                f"BenchmarkConfig.adapt must map scenario names to calibration settings, e.g. "
                f"{_ADAPT_EXAMPLE}. Got {adapt!r}."
            )
        out = {}
        for sc, settings in adapt.items():
            where = f"BenchmarkConfig.adapt[{sc!r}]"
            if isinstance(settings, AdaptSettings):
                out[sc] = settings
            elif not isinstance(settings, dict):
                raise ConfigError(
                    f"{where} must be a table of settings {AdaptSettings.field_names()}. Got "
                    f"{settings!r}."
                )
            else:
                try:
                    out[sc] = AdaptSettings.from_dict(settings)
                except ConfigError as exc:
                    raise ConfigError(f"{where}: {exc}") from None
        return out

    @model_validator(mode="after")
    def _known_names(self) -> BenchmarkConfig:
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
        return self

    @model_validator(mode="after")
    def _valid_step_configs(self) -> BenchmarkConfig:
        TrainConfig.from_dict(dict(self.train))
        for key, overrides in self.discover.items():
            if key != "*" and key not in self.systems:
                raise ConfigError(
                    f"`discover` has settings for {key!r}, which is not among the benchmark's "
                    f"systems {list(self.systems)} (use '*' for all)."
                )
            DiscoverConfig.from_dict(dict(overrides))
        for sc, settings in self.adapt.items():
            if sc not in self.scenarios:
                raise UnknownNameError(
                    f"`adapt` has settings for scenario {sc!r}, which is not among the "
                    f"benchmark's scenarios {list(self.scenarios)}; add it to `scenarios` or "
                    f"name one of them."
                )
            if settings.duration < self.dt:
                raise ConfigError(
                    f"BenchmarkConfig.adapt[{sc!r}].duration must be a number of seconds >= dt "
                    f"({self.dt}). Got {settings.duration!r}."
                )
            TrainConfig.from_dict({**self.train, **settings.train})
        return self

    def train_config(self, seed: int, kind: str, *, adapt: str | None = None) -> TrainConfig:
        """The TrainConfig of one model: ``train`` (then, for adaptation to scenario ``adapt``,
        its ``train`` settings) with ``seed``, no progress bar, one thread, and the changes of
        ``kind``'s ablation."""
        extra = self.adapt[adapt].train if adapt is not None else {}
        cfg = TrainConfig.from_dict(
            {"progress": False, "threads": 1, **self.train, **extra, "seed": seed}
        )
        _, changes, _ = ABLATIONS.get(kind, (kind, {}, {}))
        return cfg.replace(**changes) if changes else cfg

    def calibration_seed(self, seed: int) -> int:
        """Seed of the calibration records of job ``seed``: ``seed + 1000`` (stepped on by 1000
        while it is one of the benchmark's seeds, so it never repeats an evaluation draw)."""
        s = int(seed) + CALIBRATION_SEED_STEP
        while s in set(self.seeds):
            s += CALIBRATION_SEED_STEP
        return s

    @staticmethod
    def adapted(scenario: str) -> str:
        """The name of ``scenario`` evaluated after adaptation: ``<scenario>-adapted``."""
        return f"{scenario}{ADAPTED_SUFFIX}"


# ---------------------------------------------------------------------------------- presets
PRESETS: Registry[str] = Registry("benchmark preset", "`preset`")
for _name in ("quick", "full", "realistic"):
    PRESETS.register(_name, f"{_name}.toml")


def load_preset(name: str, **overrides: Any) -> BenchmarkConfig:
    """The BenchmarkConfig of a shipped preset (``quick``, ``full``, ``realistic``), with field
    overrides."""
    file = PRESETS[name]
    ref = resources.files("hybridwm.evaluation").joinpath("presets", file)
    with resources.as_file(ref) as path:
        data = load_mapping(path)
    data.update(overrides)
    data.setdefault("preset", name)
    return BenchmarkConfig.from_dict(data)
