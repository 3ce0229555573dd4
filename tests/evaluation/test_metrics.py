"""Metrics on tiny exact problems, and every input error they raise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hybridwm.errors import ConfigError, DataError, ShapeError
from hybridwm.evaluation import (
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
from hybridwm.metrics import DIVERGENCE_FACTOR


@pytest.fixture
def pair() -> tuple[np.ndarray, np.ndarray]:
    """2 episodes × 3 steps × 2 states; errors: state 0 is off by 1 everywhere, state 1 by 2 at
    episode 1 only."""
    true = np.zeros((2, 3, 2))
    true[:, :, 0] = [[0.0, 1.0, 2.0], [0.0, -1.0, -2.0]]
    true[:, :, 1] = [[1.0, 1.0, 1.0], [-1.0, -1.0, -1.0]]
    pred = true.copy()
    pred[:, :, 0] += 1.0
    pred[1, :, 1] += 2.0
    return pred, true


# ---------------------------------------------------------------------------- rmse / nrmse
def test_rmse_exact(pair):
    pred, true = pair
    # squared errors: state 0 all 1 (6 samples), state 1: 0 (3) and 4 (3)
    assert rmse(pred, true) == pytest.approx(np.sqrt((6 * 1 + 3 * 4) / 12))
    np.testing.assert_allclose(rmse(pred, true, axis=(0, 1)), [1.0, np.sqrt(2.0)])
    np.testing.assert_allclose(rmse(pred, true, axis=(1, 2)), [np.sqrt(0.5), np.sqrt(2.5)])
    assert isinstance(rmse(pred, true), float)


def test_default_scale_is_population_std(pair):
    _, true = pair
    np.testing.assert_allclose(default_scale(true), true.reshape(-1, 2).std(axis=0))
    np.testing.assert_allclose(default_scale(true), [np.sqrt(10 / 6), 1.0])


def test_nrmse_definition(pair):
    pred, true = pair
    scale = np.array([2.0, 4.0])
    np.testing.assert_allclose(nrmse_per_state(pred, true, scale), [0.5, np.sqrt(2) / 4])
    assert nrmse(pred, true, scale) == pytest.approx((0.5 + np.sqrt(2) / 4) / 2)
    # default scale = std of the truth
    s = default_scale(true)
    assert nrmse(pred, true) == pytest.approx(np.mean([1.0, np.sqrt(2.0)] / s))


def test_nrmse_accepts_single_episode_and_scalar_scale():
    true = np.array([[0.0], [0.0]])
    pred = np.array([[0.0], [2.0]])
    assert nrmse(pred, true, scale=2.0) == pytest.approx(np.sqrt(2.0) / 2)
    assert nrmse(true + 1.0, true, scale=[1.0]) == pytest.approx(1.0)


def test_perfect_prediction_is_zero(pair):
    _, true = pair
    assert nrmse(true, true) == 0.0
    np.testing.assert_array_equal(nrmse_vs_horizon(true, true), np.zeros(3))


def test_nrmse_vs_horizon(pair):
    pred, true = pair
    scale = np.array([1.0, 2.0])
    # each step: state 0 RMSE 1 / 1; state 1 RMSE sqrt((0+4)/2)=sqrt2 / 2
    expected = np.full(3, (1.0 + np.sqrt(2) / 2) / 2)
    np.testing.assert_allclose(nrmse_vs_horizon(pred, true, scale), expected)


def test_nrmse_vs_horizon_mean_of_squares_matches_nrmse_for_one_state():
    true = np.zeros((1, 4, 1))
    pred = np.array([0.0, 1.0, 2.0, 3.0]).reshape(1, 4, 1)
    curve = nrmse_vs_horizon(pred, true, scale=[1.0])
    np.testing.assert_allclose(curve, [0, 1, 2, 3])
    assert nrmse(pred, true, scale=[1.0]) == pytest.approx(np.sqrt(np.mean(curve**2)))


@settings(max_examples=30, deadline=None)
@given(
    st.integers(1, 3),
    st.integers(2, 5),
    st.integers(1, 3),
    st.floats(0.1, 10.0),
    st.integers(0, 2**31 - 1),
)
def test_nrmse_is_scale_invariant(n_ep, T, n_x, c, seed):
    """Scaling pred, true and scale together leaves nRMSE unchanged."""
    r = np.random.default_rng(seed)
    true = r.normal(size=(n_ep, T, n_x))
    pred = true + r.normal(size=true.shape)
    scale = r.uniform(0.5, 2.0, size=n_x)
    assert nrmse(c * pred, c * true, c * scale) == pytest.approx(nrmse(pred, true, scale))
    assert nrmse(pred, true, scale) >= 0


# ---------------------------------------------------------------------------- divergence / NaN
def test_nan_in_pred_is_divergence_not_error(pair):
    pred, true = pair
    pred = pred.copy()
    pred[1, 2, 0] = np.nan
    assert np.isnan(nrmse(pred, true))
    assert np.isnan(nrmse_vs_horizon(pred, true)[2])
    assert np.isfinite(nrmse_vs_horizon(pred, true)[:2]).all()
    assert count_diverged(pred) == 1


def test_count_diverged():
    pred = np.zeros((4, 3, 2))
    pred[0, 1, 1] = np.inf
    pred[1, 2, 0] = -2e6
    pred[2, 0, 0] = np.nan
    np.testing.assert_array_equal(diverged_mask(pred), [True, True, True, False])
    assert count_diverged(pred) == 3
    assert count_diverged(pred, threshold=1e7) == 2
    assert count_diverged(np.zeros((5, 2))) == 0


# ---------------------------------------------------------------------------- VPT
def test_valid_prediction_time_exact():
    t = np.array([0.0, 0.5, 1.0, 1.5])
    true = np.zeros((3, 4, 2))
    pred = np.zeros((3, 4, 2))
    # episode 0: error grows 0, 0.1, 0.2, 0.3 on state 0 only -> mean over states 0, .05, .1, .15
    pred[0, :, 0] = [0.0, 0.1, 0.2, 0.3]
    # episode 1: never wrong; episode 2: NaN at step 1
    pred[2, 1, 1] = np.nan
    vpt = valid_prediction_time(t, pred, true, scale=[1.0, 1.0], threshold=0.1)
    # episode 0 first exceeds (0.15 > 0.1) at step 3 -> t=1.5; 0.1 is not > 0.1
    np.testing.assert_allclose(vpt, [1.5, 1.5, 0.5])
    vpt = valid_prediction_time(t, pred, true, scale=[1.0, 1.0], threshold=0.07)
    np.testing.assert_allclose(vpt, [1.0, 1.5, 0.5])


def test_valid_prediction_time_is_relative_to_start_and_single_episode():
    t = np.array([10.0, 11.0, 12.0])
    true = np.zeros((3, 1))
    pred = np.array([[0.0], [0.0], [1.0]])
    np.testing.assert_allclose(valid_prediction_time(t, pred, true, scale=[1.0]), [2.0])
    np.testing.assert_allclose(
        valid_prediction_time(t, pred, true, scale=[1.0], threshold=2), [2.0]
    )
    np.testing.assert_allclose(valid_prediction_time(t, pred + 5, true, scale=[1.0]), [0.0])


def test_valid_prediction_time_errors():
    true = np.zeros((2, 3, 1))
    with pytest.raises(ShapeError, match=r"`t` must have shape \(T,\) = \(3,\)"):
        valid_prediction_time(np.arange(4.0), true, true, scale=[1.0])
    with pytest.raises(DataError, match="strictly increasing"):
        valid_prediction_time(np.array([0.0, 1.0, 1.0]), true, true, scale=[1.0])
    with pytest.raises(ConfigError, match="`threshold` must be a finite number > 0"):
        valid_prediction_time(np.arange(3.0), true, true, scale=[1.0], threshold=0)


# ---------------------------------------------------------------------------- energy
def test_energy_drift_against_truth():
    e_true = np.array([[2.0, 1.5, 1.0], [4.0, 4.0, 4.0]])
    e_pred = np.array([[2.0, 1.8, 1.6], [4.0, 3.0, 2.0]])
    np.testing.assert_allclose(energy_drift(e_pred, e_true), [0.3, -0.5])


def test_energy_drift_self_and_scale():
    assert energy_drift(np.array([2.0, 2.5, 3.0])) == pytest.approx(0.5)
    np.testing.assert_allclose(energy_drift(np.array([[0.0, 1.0]]), scale=4.0), [0.25])


def test_energy_drift_errors():
    with pytest.raises(DataError, match=r"initial energy 0\.0.*Pass `scale=`"):
        energy_drift(np.array([[0.0, 1.0]]))
    with pytest.raises(ShapeError, match=r"pred \(2, 3\) and true \(2, 2\)"):
        energy_drift(np.zeros((2, 3)), np.ones((2, 2)))
    with pytest.raises(ShapeError, match=r"\(n_episodes, T\) or \(T,\)"):
        energy_drift(np.ones((1, 2, 3)))
    with pytest.raises(DataError, match="`true` has NaN"):
        energy_drift(np.ones(3), np.array([1.0, np.nan, 1.0]))
    with pytest.raises(ConfigError, match="`scale` must be a finite number > 0"):
        energy_drift(np.ones(3), scale=-1.0)


# ---------------------------------------------------------------------------- input errors
def test_shape_mismatch_names_both_shapes():
    with pytest.raises(ShapeError, match=r"pred \(2, 3, 2\) and true \(2, 4, 2\)"):
        nrmse(np.zeros((2, 3, 2)), np.ones((2, 4, 2)))
    with pytest.raises(ShapeError, match=r"pred \(3,\) and true \(4,\)"):
        rmse(np.zeros(3), np.zeros(4))


def test_wrong_ndim():
    with pytest.raises(ShapeError, match=r"\(n_episodes, T, n_x\) or \(T, n_x\)"):
        nrmse(np.ones(5), np.ones(5))


def test_nan_in_true_is_data_error(pair):
    pred, true = pair
    true = true.copy()
    true[1, 0, 1] = np.nan
    with pytest.raises(DataError, match=r"`true` has NaN at index \(1, 0, 1\)"):
        nrmse(pred, true)
    true[1, 0, 1] = np.inf
    with pytest.raises(DataError, match="`true` has inf"):
        rmse(pred, true)


def test_non_numeric_input():
    with pytest.raises(DataError, match="`pred` must be a numeric array"):
        rmse([["a"]], [[1.0]])


def test_constant_state_needs_explicit_scale():
    true = np.zeros((2, 3, 2))
    true[:, :, 0] = np.arange(3.0)
    with pytest.raises(DataError, match=r"State\(s\) \[1\] of `true` are constant.*Pass `scale=`"):
        nrmse(true, true)
    assert nrmse(true, true, scale=[1.0, 1.0]) == 0.0


def test_bad_scale():
    x = np.ones((1, 2, 2))
    with pytest.raises(ShapeError, match=r"`scale` must have shape \(n_x,\) = \(2,\)"):
        nrmse(x, x, scale=[1.0, 1.0, 1.0])
    with pytest.raises(ConfigError, match="`scale` must be finite and > 0"):
        nrmse(x, x, scale=[1.0, 0.0])


def test_count_diverged_bad_threshold():
    with pytest.raises(ConfigError, match="`threshold` must be > 0"):
        count_diverged(np.zeros((1, 2, 1)), threshold=0)


def test_divergence_relative_to_the_data_is_unit_free():
    """Issue 19, item 4: the verdict does not depend on the data's units."""
    r = np.random.default_rng(0)
    true = r.normal(size=(4, 20, 2)) * [1.0, 10.0]
    pred = true + 0.3 * r.normal(size=true.shape)
    pred[1, 5, 0] = np.nan
    pred[2, 7, 1] = true[:, :, 1].max() + 2e6 * true[:, :, 1].std()  # 2e6 scales outside
    pred[3, 9, 0] = true[:, :, 0].min() - 0.5e6 * true[:, :, 0].std()  # 0.5e6: inside
    want = [False, True, True, False]
    for c in (1.0, 1e7, 1e-7):
        np.testing.assert_array_equal(diverged_mask(c * pred, c * true), want, err_msg=str(c))
        assert count_diverged(c * pred, c * true) == 2
        np.testing.assert_array_equal(
            diverged_mask(c * pred, c * true, c * np.array([1.0, 10.0])), want
        )
    # the factor is the documented knob; ragged episodes and pooled reference data work too
    assert DIVERGENCE_FACTOR == 1e6
    assert count_diverged(pred, true, factor=1e5) == 3
    episodes = [pred[0, :10], pred[1], pred[2, :8]]
    np.testing.assert_array_equal(diverged_mask(episodes, true.reshape(-1, 2)), [False, True, True])
    # counts-like data far beyond 1e6 are not diverged
    assert count_diverged(1e7 * true, 1e7 * true) == 0
    assert count_diverged(1e7 * true) == 4  # the absolute bound, without reference data


def test_divergence_reference_errors():
    pred = np.zeros((2, 3, 2))
    with pytest.raises(ShapeError, match=r"`true` must hold samples of the 2 states"):
        diverged_mask(pred, np.zeros((3, 3)))
    with pytest.raises(DataError, match="`true` has NaN"):
        diverged_mask(pred, np.full((3, 2), np.nan))
    with pytest.raises(
        ConfigError, match=r"either `true` \(relative to the data\) or `threshold`, not both"
    ):
        diverged_mask(pred, np.ones((3, 2)), threshold=1.0)
    with pytest.raises(ConfigError, match="`factor` must be a finite number > 0"):
        diverged_mask(pred, np.ones((3, 2)), factor=-1.0)
    # a constant reference state takes scale 1
    assert count_diverged(pred + 5e5, np.ones((3, 2))) == 0
    assert count_diverged(pred + 2e6, np.ones((3, 2))) == 2


# ---------------------------------------------------------------------------- coefficients
def test_coefficient_error_exact():
    discovered = pd.DataFrame(
        {"theta": [1.0, -9.0], "sin(theta)": [0.0, 0.0], "omega": [0.0, -0.11], "u": [0.0, 0.3]},
        index=["d(theta)/dt", "d(omega)/dt"],
    )
    true = {
        "d(theta)/dt": {"omega": 1.0},
        "d(omega)/dt": {"sin(theta)": -9.81, "omega": -0.1, "u": 0.0},
    }
    df = coefficient_error(discovered, true)
    got = {(r.equation, r.feature): r for r in df.itertuples()}
    assert set(got) == {
        ("d(theta)/dt", "theta"),
        ("d(theta)/dt", "omega"),
        ("d(omega)/dt", "theta"),
        ("d(omega)/dt", "sin(theta)"),
        ("d(omega)/dt", "omega"),
        ("d(omega)/dt", "u"),
    }
    r = got[("d(omega)/dt", "omega")]
    assert r.status == "correct"
    assert r.abs_error == pytest.approx(0.01)
    assert r.rel_error == pytest.approx(0.1)
    assert got[("d(omega)/dt", "sin(theta)")].status == "missed"
    assert got[("d(omega)/dt", "sin(theta)")].rel_error == pytest.approx(1.0)
    assert got[("d(theta)/dt", "omega")].status == "missed"
    assert got[("d(theta)/dt", "theta")].status == "spurious"
    assert np.isnan(got[("d(theta)/dt", "theta")].rel_error)
    assert got[("d(omega)/dt", "u")].status == "spurious"
    assert df.attrs == {
        "n_spurious": 3,
        "n_missed": 2,
        "n_true_terms": 3,
        "n_discovered_terms": 4,
    }


def test_coefficient_error_tolerance_and_missing_feature():
    discovered = pd.DataFrame({"x": [1e-4, 2.0]}, index=["dx", "dy"])
    df = coefficient_error(discovered, {"dy": {"x": 2.0, "y": 3.0}}, tol=1e-3)
    assert df.attrs["n_spurious"] == 0
    assert df.attrs["n_missed"] == 1
    row = df[df.feature == "y"].iloc[0]
    assert (row.discovered, row.true, row.status) == (0.0, 3.0, "missed")


def test_coefficient_error_errors():
    discovered = pd.DataFrame({"x": [1.0]}, index=["dx"])
    with pytest.raises(DataError, match=r"True equation\(s\) \['dz'\] are not in .*\['dx'\]"):
        coefficient_error(discovered, {"dz": {"x": 1.0}})
    with pytest.raises(DataError, match="must be a pandas DataFrame"):
        coefficient_error({"dx": {"x": 1.0}}, {"dx": {"x": 1.0}})  # type: ignore[arg-type]
    with pytest.raises(DataError, match="NaN/inf coefficients"):
        coefficient_error(pd.DataFrame({"x": [np.nan]}, index=["dx"]), {})
    with pytest.raises(DataError, match="must be finite"):
        coefficient_error(discovered, {"dx": {"x": float("nan")}})
    with pytest.raises(ConfigError, match="`tol` must be >= 0"):
        coefficient_error(discovered, {}, tol=-1)


def test_default_scale_constant_one_and_nrmse_trajectories() -> None:
    from hybridwm.data import Trajectory
    from hybridwm.metrics import default_scale, nrmse_trajectories

    y = np.stack([np.linspace(0, 1, 11), np.full(11, 2.0)], -1)
    assert default_scale(y, constant="one")[1] == 1.0
    with pytest.raises(ConfigError, match="`constant` must be 'raise' or 'one'"):
        default_scale(y, constant="eps")
    t = np.linspace(0, 1, 11)
    truth = [Trajectory(t, y)]
    pred = [Trajectory(t, y + np.array([0.1, 0.5]))]
    expected = (0.1 / y[1:, 0].std() + 0.5) / 2
    assert nrmse_trajectories(pred, truth) == pytest.approx(expected)
    with pytest.raises(ShapeError, match="pred has 2 episodes but true has 1"):
        nrmse_trajectories(pred * 2, truth)
