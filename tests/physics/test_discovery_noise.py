"""Discovery without hand-tuning: the smoothing window from the data (GCV), the number of terms
from held-out data, the weak form, ensembles that say which coefficients are simulated."""

from __future__ import annotations

import numpy as np
import pytest

from hybridwm.errors import ConfigError, DataError
from hybridwm.physics import DiscoverConfig, discover
from hybridwm.physics.smoothing import candidate_windows, choose_window


@pytest.fixture(scope="module")
def noisy(make_pendulum, noise):
    """8 scipy pendulum trajectories x 301 samples with 2% noise."""
    return noise(make_pendulum(n=8, seed=5), 0.02, seed=3)


def _support(model, true):
    found = model.compare(true)
    real = found[found["true"] != 0]
    spurious = int(((found["true"] == 0) & (found["found"] != 0)).sum())
    return float(real["rel_error"].max()), spurious


def test_gcv_finds_the_noise_and_a_longer_window_for_noisier_data(make_pendulum, noise):
    clean = make_pendulum(n=4, seed=2)
    choices = {
        lvl: choose_window(noise(clean, lvl, seed=1) if lvl else clean) for lvl in (0, 0.01, 0.05)
    }
    assert choices[0].window == choices[0].windows[0] == 5
    assert choices[0].window < choices[0.01].window < choices[0.05].window
    for lvl in (0.01, 0.05):  # sqrt(min GCV) estimates the noise added
        for state, rel in choices[lvl].relative_noise.items():
            assert rel == pytest.approx(lvl, rel=0.15), (lvl, state)
    assert candidate_windows(3, 40) == [5, 7, 11, 15]  # up to half the shortest
    with pytest.raises(DataError, match="shortest trajectory has 4 samples, too few to smooth"):
        candidate_windows(3, 4)


def test_auto_differentiation_smooths_noisy_data_only(pendulum_data, noisy):
    clean = discover(pendulum_data, library="trig")
    assert clean.info["differentiation"]["name"] == "finite_difference"
    model = discover(noisy, library="trig")
    diff = model.info["differentiation"]
    assert diff["name"] == "smoothed_finite_difference"
    assert diff["options"]["window"] == diff["window_choice"]["window"] > 5
    assert model.score(noisy) > 0.99  # score reuses the chosen window


def test_default_trig_poly_finds_the_sparse_pendulum_at_2_percent_noise(noisy, true_pendulum):
    """The generic library with default settings (before: 5 spurious terms at 1% noise). The
    coefficient bound is loose: 8 short episodes pin the damping (0.15) to a few per cent."""
    for method in ("derivative", "weak"):
        model = discover(noisy, config=DiscoverConfig(library="trig-poly", method=method))
        err, spurious = _support(model, true_pendulum)
        assert spurious == 0 and err < 0.05, (method, model)
        sel = model.info["selection"]
        assert sel["chosen"]["omega"]["terms"] == 3 and sel["chosen"]["theta"]["terms"] == 1
        chosen = [e for e in sel["table"] if e["chosen"] and e["state"] == "omega"]
        assert chosen[0]["heldout_r2"] == sel["chosen"]["omega"]["heldout_r2"] > 0.99


@pytest.mark.parametrize("aggregate", ["refit", "median", "mean"])
def test_ensemble_says_which_coefficients_are_simulated(noisy, aggregate):
    model = discover(noisy, config=DiscoverConfig(library="trig", ensemble=5, aggregate=aggregate))
    assert model.ensemble["aggregate"] == aggregate
    x = np.array([[0.3, -0.2]])
    u = np.array([[0.5]])
    np.testing.assert_allclose(
        model.predict(x, u), model.library.evaluate(x, u) @ model.coef_array.T
    )
    if aggregate == "mean":
        on = model.coef_array != 0
        np.testing.assert_allclose(model.coef_array[on], model.coef_mean.to_numpy()[on])


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"method": "integral"}, r"DiscoverConfig.method must be 'derivative' or 'weak'"),
        ({"folds": 1}, r"DiscoverConfig.folds must be greater than or equal to 2"),
        ({"weak_window": 5}, r"DiscoverConfig.weak_window must be greater than or equal to 7"),
        ({"aggregate": "mode"}, r"DiscoverConfig.aggregate must be 'refit', 'median' or 'mean'"),
        ({"window": 0}, r"DiscoverConfig.window must be greater than or equal to 1"),
    ],
)
def test_new_settings_are_checked(changes, match):
    with pytest.raises(ConfigError, match=match):
        DiscoverConfig(**changes)


def test_kinematic_rows_are_found_in_noisy_derivatives():
    """dx/dt = v with derivative noise that no regressor explains: kinematic against the
    library's own residual (the noise floor), not against a fixed fraction of dx."""
    from hybridwm.physics.rational import kinematic_rows

    rng = np.random.default_rng(0)
    v, a = rng.normal(size=(2, 3000))
    x = np.column_stack([rng.normal(size=3000), v])
    dx = np.column_stack([v + 0.2 * rng.normal(size=3000), np.sin(a) + 0.5 * v])
    theta = np.column_stack([v, np.sin(a), np.cos(a), np.ones(3000)])
    assert kinematic_rows(dx, x).tolist() == [False, False]  # the fixed 5 % misses it
    assert kinematic_rows(dx, x, theta=theta).tolist() == [True, False]
