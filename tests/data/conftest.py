"""Shared builders for the tests of hybridwm.data (exposed as fixtures)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from hybridwm.data import Trajectory, TrajectorySet


def make_set(
    lengths: Sequence[int] = (5, 3, 7),
    n_x: int = 2,
    n_u: int = 1,
    seed: int = 0,
    uniform: bool = False,
) -> TrajectorySet:
    """Random episodes with different lengths, (non-)uniform grids and simple metadata."""
    rng = np.random.default_rng(seed)
    trajs = []
    for i, n in enumerate(lengths):
        steps = np.full(n, 0.1) if uniform else rng.uniform(0.01, 0.2, n)
        t = rng.uniform(-1.0, 1.0) + np.cumsum(steps)
        trajs.append(
            Trajectory(
                t=t,
                x=rng.standard_normal((n, n_x)),
                u=rng.standard_normal((n, n_u)),
                state_names=tuple(f"s{j}" for j in range(n_x)),
                action_names=tuple(f"a{j}" for j in range(n_u)),
                meta={"seed": i, "system": "pendulum", "params": {"m": 1.5, "l": [0.5, 1]}},
            )
        )
    return TrajectorySet(trajs)


def bits(a: np.ndarray) -> np.ndarray:
    """The float64 array as raw 64-bit integers, for bit-exact comparisons."""
    return np.ascontiguousarray(a, dtype=np.float64).view(np.int64)


def assert_same(a: TrajectorySet, b: TrajectorySet, *, meta: bool = True) -> None:
    """Assert that two sets are identical: bit-exact arrays, names, order and meta."""
    assert len(a) == len(b)
    assert a.state_names == b.state_names
    assert a.action_names == b.action_names
    for ta, tb in zip(a, b, strict=True):
        assert np.array_equal(bits(ta.t), bits(tb.t))
        assert np.array_equal(bits(ta.x), bits(tb.x))
        assert np.array_equal(bits(ta.u), bits(tb.u))
        assert ta.u.shape == tb.u.shape
        if meta:
            assert ta.meta == tb.meta


@pytest.fixture(name="make_set")
def _make_set_fixture():
    """The ``make_set`` builder."""
    return make_set


@pytest.fixture(name="assert_same")
def _assert_same_fixture():
    """The ``assert_same`` checker."""
    return assert_same
