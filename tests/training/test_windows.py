"""Training windows cut from trajectory sets."""

from __future__ import annotations

import numpy as np
import pytest

from hybridwm.data import Trajectory, TrajectorySet
from hybridwm.data.windows import make_windows
from hybridwm.errors import ConfigError, DataError


def episode(n: int, dt: float = 0.1, t0: float = 0.0, seed: int = 0) -> Trajectory:
    r = np.random.default_rng(seed)
    t = t0 + np.arange(n) * dt
    return Trajectory(t, r.normal(size=(n, 2)), r.normal(size=(n, 1)), ("a", "b"), ("u",))


def test_counts_stride_and_content():
    data = TrajectorySet([episode(10), episode(7, t0=3.0, seed=1)])
    w = make_windows(data, 3)
    assert w.uniform and len(w) == (10 - 3) + (7 - 3)
    g = w.groups[0]
    np.testing.assert_allclose(g.t, [0.0, 0.1, 0.2, 0.3])
    i = int(np.flatnonzero((g.episode == 1) & (g.start == 2))[0])
    np.testing.assert_array_equal(g.x[i], data[1].x[2:6])
    np.testing.assert_array_equal(g.u[i], data[1].u[2:6])
    assert len(make_windows(data, 3, stride=2)) == 4 + 2


def test_different_steps_make_different_groups():
    data = TrajectorySet([episode(10, dt=0.1), episode(10, dt=0.2)])
    w = make_windows(data, 4)
    assert len(w.groups) == 2 and not w.uniform
    assert sorted(float(g.t[-1]) for g in w.groups) == pytest.approx([0.4, 0.8])


def test_nonuniform_grid_windows_are_exact():
    t = np.array([0.0, 0.1, 0.3, 0.4, 0.6, 0.7])
    tr = Trajectory(t, np.arange(12.0).reshape(6, 2), None, ("a", "b"))
    w = make_windows(TrajectorySet([tr]), 2, ragged=False)
    assert len(w) == 4
    grids = sorted(tuple(np.round(g.t, 9)) for g in w.groups)
    assert grids == [(0.0, 0.1, 0.3), (0.0, 0.2, 0.3)]
    # default: one group holding every window's own grid, batched together
    r = make_windows(TrajectorySet([tr]), 2)
    assert len(r.groups) == 1 and r.groups[0].per_window_grid and not r.uniform
    g = r.groups[0]
    np.testing.assert_allclose(g.t, [[0, 0.1, 0.3], [0, 0.2, 0.3], [0, 0.1, 0.3], [0, 0.2, 0.3]])
    np.testing.assert_array_equal(g.x[2], tr.x[2:5])
    assert g.take(np.array([1])).t.shape == (1, 3)


def test_horizon_longer_than_shortest_episode():
    data = TrajectorySet([episode(10), episode(5, seed=1)])
    with pytest.raises(
        DataError, match=r"horizon=6 needs 7 samples.*episode 1 has only 5 samples.*horizon <= 4"
    ):
        make_windows(data, 6)
    labelled = TrajectorySet([episode(10), episode(5, seed=1).replace(meta={"episode": "run7"})])
    with pytest.raises(DataError, match=r"episode 'run7' \(index 1\) has only 5 samples"):
        make_windows(labelled, 6)
    with pytest.raises(ConfigError, match="horizon"):
        make_windows(data, 0)
