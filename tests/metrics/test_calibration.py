"""hybridwm.metrics calibration and detection: coverage, CRPS, NLL, recalibration, AUROC,
thresholds, on exact small cases and large Gaussian samples."""

from __future__ import annotations

import numpy as np
import pytest

from hybridwm.errors import ConfigError, DataError, FormatError, ShapeError
from hybridwm.metrics import (
    Recalibration,
    auroc,
    crps_ensemble,
    crps_gaussian,
    fit_recalibration,
    gaussian_interval,
    gaussian_nll,
    interval_coverage,
    pad_episodes,
    threshold_at,
)


def gaussian_case(n=400, T=12, n_x=2, seed=0, spread=1.0):
    """Truth ~ N(mean, std^2) with std growing with the horizon; ``spread`` scales the
    predicted std (1: calibrated)."""
    rng = np.random.default_rng(seed)
    mean = rng.normal(size=(n, T, n_x))
    std = np.broadcast_to(0.1 * (1 + np.arange(T))[None, :, None], mean.shape).copy()
    std[:, 0] = 0.0
    true = mean + std * rng.normal(size=mean.shape)
    return mean, spread * std, true


def test_interval_coverage_matches_the_level_for_calibrated_gaussians():
    mean, std, true = gaussian_case()
    for level in (0.5, 0.9):
        cov = interval_coverage(*gaussian_interval(mean, std, level), true)
        assert cov.shape == (12,)
        assert cov[0] == 1.0  # the exact initial state is inside its zero-width interval
        np.testing.assert_allclose(cov[1:].mean(), level, atol=0.02)


def test_coverage_of_ragged_episodes_and_diverged_bounds():
    true = [np.zeros((3, 1)), np.zeros((2, 1))]
    lo = [np.array([[-1.0], [np.nan], [-1.0]]), np.array([[1.0], [-1.0]])]
    hi = [np.ones((3, 1)), np.full((2, 1), 2.0)]
    np.testing.assert_allclose(interval_coverage(lo, hi, true), [0.5, 0.5, 1.0])
    padded = pad_episodes(true)
    assert padded.shape == (2, 3, 1) and np.isnan(padded[1, 2, 0])


def test_crps_exact_values():
    # N(0, 1) at its mean: 2 phi(0) - 1/sqrt(pi)
    np.testing.assert_allclose(
        crps_gaussian(0.0, 1.0, 0.0), 2 / np.sqrt(2 * np.pi) - 1 / np.sqrt(np.pi)
    )
    np.testing.assert_allclose(crps_gaussian(1.0, 0.0, 3.0), 2.0)  # no spread: absolute error
    np.testing.assert_allclose(crps_ensemble(np.array([[1.0]]), np.array([3.0])), [2.0])
    # two draws {0, 2} at y = 1: mean|X - y| = 1, half the mean pair distance = 0.5
    np.testing.assert_allclose(crps_ensemble(np.array([[0.0], [2.0]]), np.array([1.0])), [0.5])
    rng = np.random.default_rng(1)
    draws = rng.normal(0.3, 2.0, size=(4000, 1))
    np.testing.assert_allclose(
        crps_ensemble(draws, np.array([1.0])), crps_gaussian(0.3, 2.0, 1.0), rtol=0.02
    )


def test_gaussian_nll_value():
    np.testing.assert_allclose(gaussian_nll(0.0, 2.0, 2.0), 0.5 * np.log(8 * np.pi) + 0.5)


def test_recalibration_restores_the_level_and_round_trips():
    mean, std, true = gaussian_case(spread=0.25)  # four times overconfident
    before = interval_coverage(*gaussian_interval(mean, std, 0.9), true)[1:].mean()
    cal = fit_recalibration(mean, std, true, level=0.9)
    np.testing.assert_array_equal(cal.starts, [1, 2, 4, 8])
    np.testing.assert_allclose(cal.scale, 4.0, rtol=0.15)
    mean2, std2, true2 = gaussian_case(seed=5, spread=0.25)  # fresh test draws
    after = interval_coverage(*gaussian_interval(mean2, cal.apply(std2), 0.9), true2)
    assert before < 0.5 and abs(after[1:].mean() - 0.9) < 0.03
    back = Recalibration.from_dict(cal.to_dict())
    np.testing.assert_array_equal(back.apply(std2), cal.apply(std2))
    assert not np.any(cal.floor)  # the spread explains the errors: a factor alone
    # files written before floors and centres: a factor applied at starts * sqrt(2), as then
    old = Recalibration.from_dict({k: cal.to_dict()[k] for k in ("level", "starts", "scale")})
    assert old.floor is None and old.centres is None
    at = np.log2(np.arange(1, 12))
    factor = np.interp(at, np.log2(cal.starts) + 0.5, cal.scale[:, 0])
    np.testing.assert_allclose(old.apply(std2)[:, 1:, 0], std2[:, 1:, 0] * factor, rtol=1e-12)


def test_a_floor_makes_intervals_of_members_that_agree_but_are_wrong():
    # members that agree to 1e-9 (a shared, nearly exact physics term) while the truth is
    # off by errors growing from 0.01 to 0.12: a factor on the spread alone cannot help
    def case(seed, T):
        r = np.random.default_rng(seed)
        mean = r.normal(size=(300, T, 2))
        true = mean + 0.01 * (1 + np.arange(T))[None, :, None] * r.normal(size=mean.shape)
        true[:, 0] = mean[:, 0]
        return mean, 1e-9 * r.uniform(0.5, 2, mean.shape), true

    # validation episodes as long as the horizons to be predicted (here longer: 16 vs 12)
    cal = fit_recalibration(*case(0, 16), level=0.9)
    assert np.all(cal.floor > 0)
    np.testing.assert_allclose(cal.centres, np.sqrt([1, 2 * 3, 4 * 7, 8 * 15]))
    mean2, std2, true2 = case(7, 12)
    before = interval_coverage(*gaussian_interval(mean2, std2, 0.9), true2)[1:]
    after = interval_coverage(*gaussian_interval(mean2, cal.apply(std2), 0.9), true2)[1:]
    # errors growing as a power of the horizon: geometric interpolation between the bands'
    # centres is exact there, so every step is covered as the level says, between centres too
    assert np.all(before < 0.01) and np.all(np.abs(after - 0.9) < 0.035), after
    back = Recalibration.from_dict(cal.to_dict())
    np.testing.assert_array_equal(back.apply(std2), cal.apply(std2))


def test_auroc_and_threshold():
    assert auroc([0, 1, 2], [3, 4]) == 1.0
    assert auroc([3, 4], [0, 1, 2]) == 0.0
    assert auroc([1, 1], [1, 1]) == 0.5
    rng = np.random.default_rng(2)
    neg, pos = rng.normal(size=30), rng.normal(1.0, size=20)
    pairs = np.mean([(p > n) + 0.5 * (p == n) for p in pos for n in neg])
    assert auroc(neg, pos) == pytest.approx(pairs)
    assert auroc(neg, np.append(pos, np.inf)) > auroc(neg, pos)  # a diverged episode scores top
    scores = np.arange(100.0)
    t = threshold_at(scores, 0.05)
    assert np.mean(scores > t) <= 0.05 and np.mean(scores >= t) > 0.04


def test_errors_teach_the_fix():
    with pytest.raises(ConfigError, match="`level` must be a number in"):
        gaussian_interval(0.0, 1.0, 1.5)
    with pytest.raises(ShapeError, match="one shape"):
        crps_gaussian(np.zeros(2), np.ones(3), np.zeros(2))
    with pytest.raises(ShapeError, match=r"`samples` must be \(M"):
        crps_ensemble(np.zeros((3, 2)), np.zeros(3))
    with pytest.raises(ShapeError, match="must be \\(n_episodes, T, n_x\\)"):
        interval_coverage(np.zeros(3), np.zeros(3), np.zeros(3))
    with pytest.raises(ShapeError, match="one n_x"):
        pad_episodes([np.zeros((2, 1)), np.zeros((2, 2))])
    with pytest.raises(ShapeError, match="at least 2 samples"):
        fit_recalibration(np.zeros((1, 1, 1)), np.ones((1, 1, 1)), np.zeros((1, 1, 1)))
    with pytest.raises(FormatError, match="must hold `level`"):
        Recalibration.from_dict({"level": 0.9})
    with pytest.raises(FormatError, match="malformed"):
        Recalibration.from_dict({"level": 0.9, "starts": [1, 2], "scale": [[1.0], [-1.0]]})
    with pytest.raises(FormatError, match="a `floor` of `scale`'s shape"):
        Recalibration.from_dict({"level": 0.9, "starts": [1], "scale": [[0.0]], "floor": [[0.0]]})
    with pytest.raises(FormatError, match="a `floor` of `scale`'s shape"):
        Recalibration.from_dict({"level": 0.9, "starts": [1], "scale": [[1.0]], "floor": [-1]})
    with pytest.raises(ShapeError, match="n_x = 1"):
        Recalibration(0.9, np.array([1]), np.ones((1, 1))).apply(np.ones((3, 2)))
    with pytest.raises(DataError, match="`negatives` must be a non-empty"):
        auroc([], [1.0])
    with pytest.raises(DataError, match="without NaN"):
        threshold_at([np.nan, 1.0])
    with pytest.raises(ConfigError, match="`false_alarm` must be"):
        threshold_at([1.0], 1.0)
