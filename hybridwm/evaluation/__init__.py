"""Evaluation: error metrics (pure numpy functions), model evaluation and the benchmark grid."""

from hybridwm.evaluation.benchmark import (
    MODEL_KINDS,
    PRESETS,
    BenchmarkConfig,
    benchmark,
    load_preset,
)
from hybridwm.evaluation.evaluate import Evaluation, evaluate, predict_arrays
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
    "Evaluation",
    "benchmark",
    "coefficient_error",
    "count_diverged",
    "default_scale",
    "diverged_mask",
    "energy_drift",
    "evaluate",
    "load_preset",
    "nrmse",
    "nrmse_per_state",
    "nrmse_vs_horizon",
    "predict_arrays",
    "rmse",
    "valid_prediction_time",
]
