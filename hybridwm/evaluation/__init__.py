"""Evaluation: error metrics (pure numpy functions) and, later, the benchmark grid runner."""

from hybridwm.evaluation.metrics import (
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
    "coefficient_error",
    "count_diverged",
    "default_scale",
    "diverged_mask",
    "energy_drift",
    "nrmse",
    "nrmse_per_state",
    "nrmse_vs_horizon",
    "rmse",
    "valid_prediction_time",
]
