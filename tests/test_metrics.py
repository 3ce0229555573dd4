"""hybridwm.metrics: per-state RMSE in data units and the error curve of ragged episodes, on
tiny exact problems (the other metrics: tests/evaluation/test_metrics.py)."""

from __future__ import annotations

import numpy as np
import pytest

from hybridwm.errors import ShapeError
from hybridwm.metrics import (
    nrmse_per_state,
    nrmse_vs_horizon,
    nrmse_vs_horizon_ragged,
    rmse,
    rmse_per_state,
)


def test_rmse_per_state_exact_and_in_data_units():
    true = np.zeros((2, 3, 2))
    pred = true.copy()
    pred[:, :, 0] += 1.0  # state 0 off by 1 everywhere
    pred[1, :, 1] += 2.0  # state 1 off by 2 in episode 1 only
    np.testing.assert_allclose(rmse_per_state(pred, true), [1.0, np.sqrt(2.0)])
    np.testing.assert_allclose(rmse_per_state(pred, true), rmse(pred, true, axis=(0, 1)))
    scale = np.array([2.0, 4.0])
    np.testing.assert_allclose(nrmse_per_state(pred, true, scale) * scale, [1.0, np.sqrt(2.0)])
    np.testing.assert_allclose(rmse_per_state(pred[0], true[0]), [1.0, 0.0])  # (T, n_x)
    pred[0, 1, 0] = np.nan
    assert np.isnan(rmse_per_state(pred, true)[0])
    with pytest.raises(ShapeError, match=r"pred \(2, 3, 2\) and true \(2, 2, 2\)"):
        rmse_per_state(pred, true[:, :2])


def test_ragged_curve_pools_the_episodes_that_reach_each_step():
    scale = np.array([1.0, 2.0])
    times = [np.array([0.0, 0.1, 0.2]), np.array([0.0, 0.1])]
    true = [np.zeros((3, 2)), np.zeros((2, 2))]
    pred = [np.full((3, 2), 1.0), np.full((2, 2), 3.0)]
    t, curve = nrmse_vs_horizon_ragged(times, true, pred, scale)
    np.testing.assert_allclose(t, [0.0, 0.1, 0.2])
    both = np.sqrt((1.0 + 9.0) / 2)
    np.testing.assert_allclose(curve, [(both + both / 2) / 2] * 2 + [(1.0 + 0.5) / 2])
    # equal lengths: the same curve as nrmse_vs_horizon
    same = [pred[0], pred[0] * 2]
    _, c = nrmse_vs_horizon_ragged([times[0]] * 2, [true[0]] * 2, same, scale)
    np.testing.assert_allclose(c, nrmse_vs_horizon(np.stack(same), np.zeros((2, 3, 2)), scale))
    pred[1][1, 0] = np.nan  # a diverged step counts as an infinite error
    assert np.isinf(nrmse_vs_horizon_ragged(times, true, pred, scale)[1][1])
