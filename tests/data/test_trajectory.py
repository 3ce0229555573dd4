"""Trajectory and TrajectorySet: construction checks, split, summary."""

from __future__ import annotations

import numpy as np
import pytest

from hybridwm.data import Trajectory, TrajectorySet
from hybridwm.errors import DataError, ShapeError, UnknownNameError


def test_trajectory_validation_messages():
    with pytest.raises(ShapeError, match=r"`x` must have one row per time sample: expected 3"):
        Trajectory([0.0, 1.0, 2.0], np.zeros((2, 1)))
    with pytest.raises(DataError, match=r"`t` must be strictly increasing; row 2 has t=1\.0"):
        Trajectory([0.0, 1.0, 1.0], np.zeros((3, 1)))
    with pytest.raises(ShapeError, match=r"has 1 names"):
        Trajectory([0.0, 1.0], np.zeros((2, 2)), state_names=("a",))
    with pytest.raises(DataError, match=r"`x` must be numeric"):
        Trajectory([0.0, 1.0], [["a"], ["b"]])
    tr = Trajectory([0.0, 1.0], [[1.0, 2.0], [3.0, 4.0]], state_names=("p", "v"))
    np.testing.assert_array_equal(tr.state("v"), [2.0, 4.0])
    with pytest.raises(UnknownNameError, match=r"Unknown state 'q'. Available: \['p', 'v'\]"):
        tr.state("q")
    assert tr.n_u == 0 and tr.u.shape == (2, 0) and not tr.has_missing


def test_set_requires_common_names():
    a = Trajectory([0.0, 1.0], [[1.0], [2.0]], state_names=("a",))
    b = Trajectory([0.0, 1.0], [[1.0], [2.0]], state_names=("b",))
    with pytest.raises(DataError, match=r"must share state and action names"):
        TrajectorySet([a, b])
    with pytest.raises(DataError, match=r"needs at least one trajectory"):
        TrajectorySet([])


def test_split_is_deterministic_disjoint_and_complete(make_set):
    ts = make_set(lengths=[3 + i % 4 for i in range(23)])
    ids = {id(tr): i for i, tr in enumerate(ts)}
    parts = ts.split((0.7, 0.2, 0.1), seed=5)
    again = ts.split((0.7, 0.2, 0.1), seed=5)
    other = ts.split((0.7, 0.2, 0.1), seed=6)
    idx = [[ids[id(tr)] for tr in p] for p in parts]
    assert idx == [[ids[id(tr)] for tr in p] for p in again]
    assert idx != [[ids[id(tr)] for tr in p] for p in other]
    flat = [i for p in idx for i in p]
    assert sorted(flat) == list(range(23))  # disjoint and complete
    assert [len(p) for p in idx] == [17, 4, 2]
    assert all(p == sorted(p) for p in idx)  # original order within a part


def test_split_errors(make_set):
    ts = make_set(lengths=(3, 3))
    with pytest.raises(DataError, match=r"summing to 1"):
        ts.split((0.5, 0.6))
    with pytest.raises(DataError, match=r"Cannot split 2 episodes into 3"):
        ts.split((0.4, 0.3, 0.3))


def test_summary_values(make_set):
    tr1 = Trajectory([0.0, 1.0], [[1.0, 0.0], [3.0, 0.0]], [[2.0], [4.0]], ("a", "b"), ("f",))
    tr2 = Trajectory([0.0, 1.0], [[5.0, 1.0], [7.0, 1.0]], [[6.0], [8.0]], ("a", "b"), ("f",))
    s = TrajectorySet([tr1, tr2]).summary()
    assert list(s.index) == ["a", "b", "f"]
    assert list(s["kind"]) == ["state", "state", "action"]
    np.testing.assert_allclose(s["mean"], [4.0, 0.5, 5.0])
    np.testing.assert_allclose(s["std"], [np.sqrt(5.0), 0.5, np.sqrt(5.0)])
    np.testing.assert_array_equal(s["min"], [1.0, 0.0, 2.0])
    np.testing.assert_array_equal(s["max"], [7.0, 1.0, 8.0])
    np.testing.assert_array_equal(s["missing"], [0, 0, 0])


def test_summary_with_missing_values():
    tr = Trajectory(
        [0.0, 1.0, 2.0], [[1.0, np.nan], [np.nan, np.nan], [3.0, np.inf]], allow_nan=True
    )
    s = TrajectorySet([tr]).summary()
    assert s.loc["x0", "mean"] == 2.0 and s.loc["x0", "missing"] == 1
    assert np.isnan(s.loc["x1", "mean"]) and s.loc["x1", "missing"] == 3


def test_select_concat_slice(make_set):
    ts = make_set()
    assert len(ts.select([2, 0])) == 2 and ts.select([2, 0])[0] is ts[2]
    assert len(ts + ts) == 6
    assert list(ts.lengths) == [5, 3, 7] and ts.n_samples == 15
    assert ts.n_x == 2 and ts.n_u == 1
    with pytest.raises(DataError, match=r"indices \[5\] are out of range"):
        ts.select([5])
