"""Evaluation: model evaluation, error metrics (pure numpy functions) and the benchmark grid.

The benchmark is in parts: :mod:`~hybridwm.evaluation.config` (``BenchmarkConfig``, presets),
:mod:`~hybridwm.evaluation.executors` (how jobs run), :mod:`~hybridwm.evaluation.jobs`
(prepare a system and seed; fit and evaluate a model), :mod:`~hybridwm.evaluation.collection`
(the result files) and :func:`benchmark`, the entry point.
"""

from hybridwm.evaluation.benchmark import GridRun, benchmark, run_grid
from hybridwm.evaluation.config import MODEL_KINDS, PRESETS, BenchmarkConfig, load_preset
from hybridwm.evaluation.detection import ChangeDetector
from hybridwm.evaluation.energy import ground_truth_energy
from hybridwm.evaluation.evaluate import Evaluation, evaluate, predict_arrays
from hybridwm.evaluation.merging import collect_run
from hybridwm.evaluation.official_score import OfficialScore, score
from hybridwm.evaluation.shards import JobKey, Shard, job_keys
from hybridwm.metrics import (
    coefficient_error,
    count_diverged,
    default_scale,
    diverged_mask,
    energy_drift,
    nrmse,
    nrmse_per_state,
    nrmse_vs_horizon,
    rmse,
    valid_prediction_time,
)

__all__ = [
    "MODEL_KINDS",
    "PRESETS",
    "BenchmarkConfig",
    "ChangeDetector",
    "Evaluation",
    "GridRun",
    "JobKey",
    "OfficialScore",
    "Shard",
    "benchmark",
    "coefficient_error",
    "collect_run",
    "count_diverged",
    "default_scale",
    "diverged_mask",
    "energy_drift",
    "evaluate",
    "ground_truth_energy",
    "job_keys",
    "load_preset",
    "nrmse",
    "nrmse_per_state",
    "nrmse_vs_horizon",
    "predict_arrays",
    "rmse",
    "run_grid",
    "score",
    "valid_prediction_time",
]
