"""dropna, interpolate, resample, with_time_scale and from_arrays on small exact problems."""

from __future__ import annotations

import numpy as np
import pytest

from hybridwm.data import Trajectory, TrajectorySet
from hybridwm.errors import ConfigError, DataError, ShapeError, UnknownNameError

nan = np.nan


def _gappy() -> TrajectorySet:
    t = np.array([0.0, 1.0, 2.0, 4.0, 5.0])
    x = np.column_stack([[nan, 1.0, nan, 5.0, nan], [0.0, 1.0, 2.0, 3.0, 4.0]])
    u = np.array([[1.0], [nan], [3.0], [nan], [5.0]])
    tr = Trajectory(t, x, u, ("a", "b"), ("f",), allow_nan=True)
    clean = Trajectory(
        t, np.ones((5, 2)) * np.arange(5)[:, None], np.zeros((5, 1)), ("a", "b"), ("f",)
    )
    return TrajectorySet([tr, clean])


def test_trajectory_rejects_nan_unless_allowed():
    with pytest.raises(DataError, match=r"`x` has NaN in column `x0` at row 1; .*dropna\(\)"):
        Trajectory([0.0, 1.0], [[1.0], [nan]])
    tr = Trajectory([0.0, 1.0], [[1.0], [nan]], allow_nan=True)
    assert tr.has_missing and tr.slice(0, 1).allow_nan
    with pytest.raises(DataError, match=r"`t` has NaN"):
        Trajectory([0.0, nan], [[1.0], [2.0]], allow_nan=True)


def test_check_finite():
    ts = _gappy()
    assert ts.has_missing
    with pytest.raises(
        DataError, match=r"Episode 0 \(trajectory 0\) has NaN in column `a` at row 0"
    ):
        ts.check_finite()
    assert ts[1:].check_finite() is not None


def test_dropna():
    t = np.array([0.0, 1.0, 2.0, 3.0])
    x = [[1.0], [nan], [3.0], [4.0]]
    u = [[0.0], [1.0], [2.0], [np.inf]]  # inf counts as missing too
    out = TrajectorySet([Trajectory(t, x, u, allow_nan=True)]).dropna()
    assert not out.has_missing and not out[0].allow_nan
    np.testing.assert_array_equal(out[0].t, [0.0, 2.0])
    np.testing.assert_array_equal(out[0].x[:, 0], [1.0, 3.0])


def test_dropna_short_episode():
    ts = _gappy()  # episode 0: `a` is missing at rows 0, 2, 4 and `f` at 1, 3 -> no row left
    with pytest.raises(
        DataError, match=r"Episode 0 \(trajectory 0\) keeps 0 of 5 samples .*drop_short=True"
    ):
        ts.dropna()
    with pytest.warns(UserWarning, match=r"dropped 1 episode\(s\)") as rec:
        out = ts.dropna(drop_short=True)
    assert rec[0].filename == __file__
    assert len(out) == 1
    with pytest.raises(DataError, match=r"left no episode"):
        ts[:1].dropna(drop_short=True)


def test_dropna_uses_episode_label_from_meta():
    tr = Trajectory([0.0, 1.0], [[nan], [1.0]], meta={"episode": "run-a"}, allow_nan=True)
    with pytest.raises(DataError, match=r"Episode 'run-a' \(trajectory 0\) keeps 1 of 2"):
        TrajectorySet([tr]).dropna()


def test_interpolate_linear_in_time_with_edges():
    out = _gappy().interpolate()
    x = out[0].x
    # a: valid 1.0 at t=1 and 5.0 at t=4 -> t=2 gives 1 + 4/3; edges take nearest value
    np.testing.assert_allclose(x[:, 0], [1.0, 1.0, 1.0 + 4.0 / 3.0, 5.0, 5.0], rtol=0, atol=1e-15)
    np.testing.assert_array_equal(x[:, 1], [0.0, 1.0, 2.0, 3.0, 4.0])
    # f: linear in time: t=1 between (0,1) and (2,3) -> 2; t=4 between (2,3) and (5,5) -> 4 + 1/3
    np.testing.assert_allclose(out[0].u[:, 0], [1.0, 2.0, 3.0, 3.0 + 4.0 / 3.0, 5.0])
    assert not out.has_missing
    np.testing.assert_array_equal(out[1].x, _gappy()[1].x)


def test_interpolate_previous_for_actions():
    out = _gappy().interpolate(action_method="previous")
    np.testing.assert_array_equal(out[0].u[:, 0], [1.0, 1.0, 3.0, 3.0, 5.0])
    tr = Trajectory([0.0, 1.0, 2.0], [[0.0], [1.0], [2.0]], [[nan], [2.0], [nan]], allow_nan=True)
    np.testing.assert_array_equal(
        TrajectorySet([tr]).interpolate(action_method="previous")[0].u[:, 0], [2.0, 2.0, 2.0]
    )


def test_interpolate_errors():
    with pytest.raises(UnknownNameError, match=r"Valid names: 'linear', 'previous'"):
        _gappy().interpolate(action_method="cubic")
    tr = Trajectory([0.0, 1.0], [[nan], [nan]], allow_nan=True)
    with pytest.raises(DataError, match=r"no valid value in column `x0` \(all 2 are missing\)"):
        TrajectorySet([tr]).interpolate()


def test_resample_known_signal_and_held_actions():
    # non-uniform grid, states linear in t (so linear interpolation is exact)
    t = np.array([0.0, 0.013, 0.05, 0.071, 0.1, 0.2, 0.23])
    x = np.column_stack([2.0 * t + 1.0, -3.0 * t])
    u = np.array([[0.0], [1.0], [2.0], [3.0], [4.0], [5.0], [6.0]])
    ts = TrajectorySet([Trajectory(t, x, u, meta={"k": 1})])
    out = ts.resample(0.05)
    tn = out[0].t
    np.testing.assert_allclose(tn, [0.0, 0.05, 0.1, 0.15, 0.2], rtol=0, atol=1e-15)
    np.testing.assert_allclose(out[0].x[:, 0], 2.0 * tn + 1.0, rtol=0, atol=1e-14)
    np.testing.assert_allclose(out[0].x[:, 1], -3.0 * tn, rtol=0, atol=1e-14)
    # ZOH: action in force at s is the last one with timestamp <= s (0.05 and 0.1 and 0.2
    # coincide with samples, so the new action applies there)
    np.testing.assert_array_equal(out[0].u[:, 0], [0.0, 2.0, 4.0, 4.0, 5.0])
    assert out[0].is_uniform and out[0].meta == {"k": 1}
    assert len(ts[0]) == 7  # input untouched


def test_resample_grid_rounding_keeps_switches():
    # a 0.01 grid resampled at 0.03: 0.03 * k and 0.01 * (3k) differ by rounding
    t = 0.01 * np.arange(31)
    u = np.arange(31.0)[:, None]
    out = TrajectorySet([Trajectory(t, np.sin(t)[:, None], u)]).resample(0.03)
    np.testing.assert_array_equal(out[0].u[:, 0], 3.0 * np.arange(11))
    assert len(out[0]) == 11


def test_resample_sine_accuracy_and_per_episode_start():
    t = np.linspace(1.0, 3.0, 2001)
    ts = TrajectorySet(
        [Trajectory(t, np.sin(t)[:, None]), Trajectory(t[:1001] + 5, np.cos(t[:1001])[:, None])]
    )
    out = ts.resample(0.01)
    assert out[0].t[0] == 1.0 and out[1].t[0] == 6.0
    assert len(out[0]) == 201 and len(out[1]) == 101
    np.testing.assert_allclose(out[0].x[:, 0], np.sin(out[0].t), atol=1e-6)


def test_resample_errors():
    ts = TrajectorySet([Trajectory([0.0, 0.5, 1.0], [[0.0], [1.0], [2.0]])])
    for bad in (0, -0.1, float("inf"), float("nan")):
        with pytest.raises(ConfigError, match=r"`dt` of resample must be finite and > 0"):
            ts.resample(bad)
    with pytest.raises(ConfigError, match=r"must be a number"):
        ts.resample("0.1")
    with pytest.raises(UnknownNameError, match=r"Unknown resample method 'cubic'.*'linear'"):
        ts.resample(0.1, method="cubic")
    with pytest.raises(DataError, match=r"resample\(dt=2\.0\) leaves Episode 0 .* with 1 sample"):
        ts.resample(2.0)
    with pytest.raises(DataError, match=r"Clean the set first"):
        _gappy().resample(0.5)


def test_with_time_scale(make_set):
    ts = make_set()
    out = ts.with_time_scale(1e-3)
    np.testing.assert_array_equal(out[1].t, ts[1].t * 1e-3)
    np.testing.assert_array_equal(out[1].x, ts[1].x)
    with pytest.raises(ConfigError, match=r"`scale` of with_time_scale must be finite and > 0"):
        ts.with_time_scale(0.0)
    with pytest.raises(ConfigError, match=r"must be a number"):
        ts.with_time_scale(None)


def test_from_arrays_and_stack_round_trip():
    rng = np.random.default_rng(0)
    t = np.linspace(0.0, 1.0, 11)
    x, u = rng.standard_normal((3, 11, 2)), rng.standard_normal((3, 11, 1))
    ts = TrajectorySet.from_arrays(t, x, u, ("p", "v"), ("f",), meta=[{"i": i} for i in range(3)])
    assert ts.state_names == ("p", "v") and [tr.meta["i"] for tr in ts] == [0, 1, 2]
    t2, x2, u2 = ts.stack()
    np.testing.assert_array_equal(t2, t)
    np.testing.assert_array_equal(x2, x)
    np.testing.assert_array_equal(u2, u)
    no_u = TrajectorySet.from_arrays(t, x)
    assert no_u.n_u == 0
    per_ep = TrajectorySet.from_arrays(np.stack([t, t + 1, t + 2]), x, meta={"s": 1})
    assert per_ep[2].t[0] == 2.0 and per_ep[1].meta == {"s": 1}


def test_stack_returns_times_relative_to_each_start():
    t = np.linspace(0.0, 1.0, 5)
    ts = TrajectorySet(
        [Trajectory(t + 10.0, np.ones((5, 1))), Trajectory(t + 20.0, np.ones((5, 1)))]
    )
    t_rel, _, _ = ts.stack()
    np.testing.assert_allclose(t_rel, t)
    assert t_rel[0] == 0.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"t": np.arange(3.0), "x": np.zeros((3, 2))}, r"must be 3-D \(n, T, n_x\).*x\[None\]"),
        ({"t": np.arange(3.0), "x": np.zeros((0, 3, 1))}, "holds no episode"),
        (
            {"t": np.arange(3.0), "x": np.zeros((2, 3, 1)), "u": np.zeros((2, 4, 1))},
            r"`u` of from_arrays must have shape \(n, T, n_u\) = \(2, 3, n_u\)",
        ),
        (
            {"t": np.arange(4.0), "x": np.zeros((2, 3, 1))},
            r"`t` of from_arrays must have shape \(T,\) = \(3,\)",
        ),
        ({"t": np.arange(3.0), "x": np.zeros((2, 3, 1)), "meta": [{}]}, "list of n=2 dicts"),
    ],
)
def test_from_arrays_shape_errors(kwargs, match):
    with pytest.raises(ShapeError, match=match):
        TrajectorySet.from_arrays(**kwargs)


def test_from_arrays_data_error_names_episode():
    x = np.zeros((2, 3, 1))
    x[1, 2, 0] = nan
    with pytest.raises(DataError, match=r"Episode 1 of from_arrays: `x` has NaN"):
        TrajectorySet.from_arrays(np.arange(3.0), x)


def test_add_noise_is_seeded_relative_and_keeps_actions() -> None:
    rng = np.random.default_rng(0)
    t = np.linspace(0.0, 1.0, 201)
    x = np.stack([np.sin(2 * np.pi * t), 10 * np.cos(2 * np.pi * t)], -1)
    ts = TrajectorySet([Trajectory(t, x + rng.normal(size=x.shape), rng.normal(size=(201, 1)))])
    a, b = ts.add_noise(0.05, seed=3), ts.add_noise(0.05, seed=3)
    np.testing.assert_array_equal(a[0].x, b[0].x)
    assert not np.array_equal(a[0].x, ts.add_noise(0.05, seed=4)[0].x)
    np.testing.assert_array_equal(a[0].u, ts[0].u)
    noise = a[0].x - ts[0].x
    np.testing.assert_allclose(noise.std(0) / ts[0].x.std(0), 0.05, rtol=0.2)
    np.testing.assert_array_equal(ts.add_noise(0.0)[0].x, ts[0].x)
    with pytest.raises(ConfigError, match="`level` of add_noise must be finite and >= 0"):
        ts.add_noise(-0.01)
