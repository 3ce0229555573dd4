"""hybridwm: hybrid physics-informed world models.

Recover physics from trajectories with SINDy, add a learned neural-ODE residual, and check every
model against MuJoCo ground truth, in and out of distribution::

    import hybridwm as hw

    train = hw.simulate(system="pendulum", scenario="train", n_trajectories=32, seed=0)
    phys = hw.discover(train, library="trig-poly")
    model = hw.WorldModel.hybrid(physics=phys).fit(train, config=hw.TrainConfig(max_time=60))

The names below are re-exported explicitly. The heavy ones (torch, MuJoCo, pysindy) load on
first use, so ``import hybridwm`` stays fast. The command line is :mod:`hybridwm.cli`.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from hybridwm.data import (
    ColumnMapping,
    Trajectory,
    TrajectorySet,
    read_trajectories,
    write_trajectories,
)
from hybridwm.errors import (
    ConfigError,
    DataError,
    DiscoveryError,
    FormatError,
    HybridWMError,
    IncompatibleVersionError,
    NotFittedError,
    ParseError,
    ShapeError,
    SimulationError,
    TrainingError,
    UnknownNameError,
)

try:
    __version__ = version("hybridwm")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

# name -> module that defines it (loaded on first attribute access)
_LAZY: dict[str, str] = {
    # systems: MuJoCo ground truth
    "SimulateConfig": "hybridwm.systems",
    "Scenario": "hybridwm.systems",
    "System": "hybridwm.systems",
    "get_scenario": "hybridwm.systems",
    "get_system": "hybridwm.systems",
    "list_scenarios": "hybridwm.systems",
    "list_systems": "hybridwm.systems",
    "simulate": "hybridwm.systems",
    # datasets: real measured benchmarks with their official splits
    "MeasuredDataset": "hybridwm.datasets",
    "load_dataset": "hybridwm.datasets",
    # physics: discovery and priors
    "DiscoverConfig": "hybridwm.physics",
    "PhysicsModel": "hybridwm.physics",
    "declare": "hybridwm.physics",
    "discover": "hybridwm.physics",
    "fit_parameters": "hybridwm.physics",
    # gymnasium both ways (the gym extra)
    "WorldModelEnv": "hybridwm.envs",
    "WorldModelVectorEnv": "hybridwm.envs",
    "as_dynamics": "hybridwm.envs",
    "collect": "hybridwm.envs",
    # data masks
    "mask_rows": "hybridwm.data",
    "select_episodes": "hybridwm.data",
    # models and training
    "MLP": "hybridwm.dynamics",
    "ModelSpec": "hybridwm.models",
    "TrainConfig": "hybridwm.training",
    "Trainer": "hybridwm.training",
    "WorldModel": "hybridwm.models",
    # uncertainty: ensembles and change detection
    "ChangeDetector": "hybridwm.evaluation.detection",
    "WorldModelEnsemble": "hybridwm.models.ensemble",
    # control: plan in a model, act in MuJoCo
    "PlannerConfig": "hybridwm.control",
    "get_task": "hybridwm.control",
    "make_planner": "hybridwm.control",
    "make_rollout": "hybridwm.control",
    "run_episode": "hybridwm.control",
    # evaluation and reports
    "BenchmarkConfig": "hybridwm.evaluation",
    "Evaluation": "hybridwm.evaluation",
    "benchmark": "hybridwm.evaluation",
    "evaluate": "hybridwm.evaluation",
    "load_preset": "hybridwm.evaluation",
    "nrmse": "hybridwm.evaluation",
    "render_report": "hybridwm.reports",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'hybridwm' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from hybridwm.control import PlannerConfig, get_task, make_planner, make_rollout, run_episode
    from hybridwm.data import mask_rows, select_episodes
    from hybridwm.datasets import MeasuredDataset, load_dataset
    from hybridwm.dynamics import MLP
    from hybridwm.envs import WorldModelEnv, WorldModelVectorEnv, as_dynamics, collect
    from hybridwm.evaluation import (
        BenchmarkConfig,
        Evaluation,
        benchmark,
        evaluate,
        load_preset,
        nrmse,
    )
    from hybridwm.evaluation.detection import ChangeDetector
    from hybridwm.models import ModelSpec, WorldModel
    from hybridwm.models.ensemble import WorldModelEnsemble
    from hybridwm.physics import DiscoverConfig, PhysicsModel, declare, discover, fit_parameters
    from hybridwm.reports import render_report
    from hybridwm.systems import (
        Scenario,
        SimulateConfig,
        System,
        get_scenario,
        get_system,
        list_scenarios,
        list_systems,
        simulate,
    )
    from hybridwm.training import TrainConfig, Trainer

__all__ = [
    "MLP",
    "BenchmarkConfig",
    "ChangeDetector",
    "ColumnMapping",
    "ConfigError",
    "DataError",
    "DiscoverConfig",
    "DiscoveryError",
    "Evaluation",
    "FormatError",
    "HybridWMError",
    "IncompatibleVersionError",
    "MeasuredDataset",
    "ModelSpec",
    "NotFittedError",
    "ParseError",
    "PhysicsModel",
    "PlannerConfig",
    "Scenario",
    "ShapeError",
    "SimulateConfig",
    "SimulationError",
    "System",
    "TrainConfig",
    "Trainer",
    "TrainingError",
    "Trajectory",
    "TrajectorySet",
    "UnknownNameError",
    "WorldModel",
    "WorldModelEnsemble",
    "WorldModelEnv",
    "WorldModelVectorEnv",
    "__version__",
    "as_dynamics",
    "benchmark",
    "collect",
    "declare",
    "discover",
    "evaluate",
    "fit_parameters",
    "get_scenario",
    "get_system",
    "get_task",
    "list_scenarios",
    "list_systems",
    "load_dataset",
    "load_preset",
    "make_planner",
    "make_rollout",
    "mask_rows",
    "nrmse",
    "read_trajectories",
    "render_report",
    "run_episode",
    "select_episodes",
    "simulate",
    "write_trajectories",
]
