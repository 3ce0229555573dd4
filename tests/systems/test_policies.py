"""Action policies: shapes, bounds, seeding, settings."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hybridwm.errors import ConfigError, UnknownNameError
from hybridwm.systems import POLICIES, make_policy

SETTINGS = {
    "zero": {},
    "random": {"hold_min": 0.02, "hold_max": 0.3},
    "sines": {"f_min": 0.5, "f_max": 3.0},
    "chirp": {"f_start": 0.1, "f_end": 5.0},
    "ou": {"tau": 0.1},
}


def test_registry_has_the_policies():
    assert set(SETTINGS) <= set(POLICIES)


@settings(max_examples=40, deadline=None)
@given(
    name=st.sampled_from(sorted(SETTINGS)),
    n=st.integers(1, 4),
    steps=st.integers(1, 60),
    n_u=st.integers(1, 3),
    amplitude=st.floats(0.05, 3.0),
    dt=st.sampled_from([0.001, 0.01, 0.05]),
    low=st.floats(-5.0, 4.0),
    width=st.floats(0.1, 10.0),
    seed=st.integers(0, 2**16),
)
def test_actions_respect_bounds_and_shape(name, n, steps, n_u, amplitude, dt, low, width, seed):
    bounds = np.tile([low, low + width], (n_u, 1))
    policy = make_policy(name, amplitude=amplitude, **SETTINGS[name])
    u = policy.sample(n, steps, dt, bounds, np.random.default_rng(seed))
    assert u.shape == (n, steps, n_u)
    assert np.isfinite(u).all()
    assert (u >= bounds[:, 0]).all() and (u <= bounds[:, 1]).all()


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_same_generator_state_gives_same_actions(name):
    p = make_policy(name, **SETTINGS[name])
    b = np.array([[-1.0, 1.0], [0.0, 2.0]])
    a = p.sample(3, 50, 0.01, b, np.random.default_rng(7))
    c = p.sample(3, 50, 0.01, b, np.random.default_rng(7))
    np.testing.assert_array_equal(a, c)
    if name != "zero":
        assert a.std() > 0
        assert not np.array_equal(a, p.sample(3, 50, 0.01, b, np.random.default_rng(8)))


def test_amplitude_scales_the_signal():
    b = np.array([[-2.0, 2.0]])
    small = make_policy("random", amplitude=0.25).sample(20, 100, 0.01, b, np.random.default_rng(0))
    assert np.abs(small).max() <= 0.5
    big = make_policy("random", amplitude=1.0).sample(20, 100, 0.01, b, np.random.default_rng(0))
    assert np.abs(big).max() > 1.0


def test_random_steps_hold_for_at_least_hold_min():
    u = make_policy("random", hold_min=0.1, hold_max=0.2).sample(
        5, 300, 0.01, np.array([[-1.0, 1.0]]), np.random.default_rng(0)
    )[..., 0]
    for row in u:
        switches = np.flatnonzero(np.diff(row) != 0) + 1
        runs = np.diff(np.r_[0, switches])
        assert runs.min() >= 10 and runs.max() <= 20


def test_ou_is_correlated_and_stationary():
    u = make_policy("ou", amplitude=0.5, tau=0.2).sample(
        200, 200, 0.01, np.array([[-1.0, 1.0]]), np.random.default_rng(0)
    )[..., 0]
    assert np.corrcoef(u[:, :-1].ravel(), u[:, 1:].ravel())[0, 1] > 0.9
    assert u[:, 0].std() == pytest.approx(0.25, rel=0.2)
    assert u[:, -1].std() == pytest.approx(0.25, rel=0.2)


def test_settings_take_numpy_integers_and_load_from_a_dict():
    p = make_policy("sines", n_components=np.int64(2), f_max=3)
    assert p.n_components == 2 and isinstance(p.n_components, int) and p.f_max == 3.0
    assert POLICIES["sines"].from_dict(p.to_dict()) == p


def test_policy_errors_teach_the_fix():
    with pytest.raises(UnknownNameError, match=r"Unknown policy 'brownian'.*'chirp', 'ou'"):
        make_policy("brownian")
    with pytest.raises(
        ConfigError, match=r"Policy 'sines'.*Unknown SinesPolicy field.*\['hold_min'\]"
    ):
        make_policy("sines", hold_min=0.1)
    with pytest.raises(
        ConfigError, match=r"Policy 'ou': OUPolicy.amplitude must be greater than 0\. Got -1"
    ):
        make_policy("ou", amplitude=-1.0)
    with pytest.raises(ConfigError, match=r"SinesPolicy.n_components must be a valid integer"):
        make_policy("sines", n_components=2.5)
    with pytest.raises(ConfigError, match=r"ChirpPolicy.f_end must be a valid number. Got True"):
        make_policy("chirp", f_end=True)
    with pytest.raises(ConfigError, match=r"`f_max` of policy 'sines' must be >= `f_min` \(2.0\)"):
        make_policy("sines", f_min=2.0)
    with pytest.raises(ConfigError, match=r"`hold_max` of policy 'random' must be >= `hold_min`"):
        make_policy("random", hold_min=0.5, hold_max=0.1)
    with pytest.raises(ConfigError, match=r"`bounds` must be finite with low < high"):
        make_policy("zero").sample(1, 2, 0.01, np.array([[1.0, -1.0]]), np.random.default_rng(0))
    with pytest.raises(ConfigError, match=r"`dt` of Policy.sample must be > 0"):
        make_policy("zero").sample(1, 2, 0.0, np.array([[-1.0, 1.0]]), np.random.default_rng(0))
