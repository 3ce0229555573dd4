"""Metrics: pure numpy functions of predictions against ground truth.

* :mod:`~hybridwm.metrics.rollout`: open-loop errors (nRMSE, RMSE in data units, per state, vs
  horizon, valid prediction time, energy drift, divergence).
* :mod:`~hybridwm.metrics.coefficients`: discovered equation coefficients against true ones.
* :mod:`~hybridwm.metrics.calibration`: predictive distributions against the truth (interval
  coverage vs horizon, CRPS, Gaussian NLL) and the recalibration of their spread.
* :mod:`~hybridwm.metrics.detection`: scores that separate two groups (AUROC, thresholds).
* :mod:`~hybridwm.metrics.uncertainty_file`: ``uncertainty.json``, those results in a run
  directory (read by the reports).
"""

from hybridwm.metrics.calibration import (
    Recalibration,
    crps_ensemble,
    crps_gaussian,
    fit_recalibration,
    gaussian_interval,
    gaussian_nll,
    interval_coverage,
    pad_episodes,
)
from hybridwm.metrics.coefficients import COEFFICIENT_COLUMNS, coefficient_error
from hybridwm.metrics.detection import auroc, threshold_at
from hybridwm.metrics.rollout import (
    DIVERGENCE_FACTOR,
    count_diverged,
    default_scale,
    diverged_mask,
    energy_drift,
    nrmse,
    nrmse_per_state,
    nrmse_trajectories,
    nrmse_vs_horizon,
    nrmse_vs_horizon_ragged,
    rmse,
    rmse_per_state,
    valid_prediction_time,
)
from hybridwm.metrics.uncertainty_file import (
    UNCERTAINTY_FILE,
    IntervalBand,
    UncertaintyDocument,
    UncertaintyRow,
    read_uncertainty,
)

__all__ = [
    "COEFFICIENT_COLUMNS",
    "DIVERGENCE_FACTOR",
    "UNCERTAINTY_FILE",
    "IntervalBand",
    "Recalibration",
    "UncertaintyDocument",
    "UncertaintyRow",
    "auroc",
    "coefficient_error",
    "count_diverged",
    "crps_ensemble",
    "crps_gaussian",
    "default_scale",
    "diverged_mask",
    "energy_drift",
    "fit_recalibration",
    "gaussian_interval",
    "gaussian_nll",
    "interval_coverage",
    "nrmse",
    "nrmse_per_state",
    "nrmse_trajectories",
    "nrmse_vs_horizon",
    "nrmse_vs_horizon_ragged",
    "pad_episodes",
    "read_uncertainty",
    "rmse",
    "rmse_per_state",
    "threshold_at",
    "valid_prediction_time",
]
