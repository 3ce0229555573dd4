"""Model selection: backward elimination with exchanges, held-out folds, the one-SE rule."""

from __future__ import annotations

import numpy as np
import pytest

from hybridwm.errors import DataError
from hybridwm.physics.selection import (
    chosen_fit,
    elimination_path,
    fixed_path,
    fold_ids,
    format_selection,
    select_sparse,
)


def _lookalikes(n: int = 2000, noise: float = 0.05, seed: int = 0):
    """y = 2 a - 0.3 b + noise, with c = b cos(s) and d = b sin(s)^2 / 2 standing in for b
    (b = c + d up to O(s^4) at small s): greedy removal alone can drop the true b."""
    rng = np.random.default_rng(seed)
    s = rng.uniform(-0.6, 0.6, n)
    a, b = rng.normal(size=n), rng.normal(size=n)
    e = rng.normal(size=n)
    theta = np.column_stack([a, b, b * np.cos(s), b * np.sin(s) ** 2, e, np.ones(n)])
    y = 2.0 * a - 0.3 * b + noise * rng.normal(size=n)
    return theta, y[:, None]


def test_elimination_path_keeps_the_true_term_among_lookalikes():
    theta, y = _lookalikes()
    path = elimination_path(theta, y)  # (k, 1, k): k, k-1, ... 1 terms
    assert path.shape == (6, 1, 6)
    assert [(path[j, 0] != 0).sum() for j in range(6)] == [6, 5, 4, 3, 2, 1]
    two = path[4, 0]
    assert set(np.flatnonzero(two)) == {0, 1}
    np.testing.assert_allclose(two[[0, 1]], [2.0, -0.3], atol=0.01)


def test_select_sparse_picks_the_sparsest_model_within_one_standard_error():
    theta, y = _lookalikes()
    traj = np.repeat(np.arange(10), 200)
    fold = fold_ids(traj, np.tile(np.arange(200), 10), 5, seed=0)
    sel = select_sparse(theta, y, fold, elimination_path, ["y"])
    assert set(np.flatnonzero(sel.coef[0])) == {0, 1}
    assert sel.folds == 5 and sel.r2[0] > 0.99
    chosen = [e for e in sel.table if e["chosen"]]
    assert len(chosen) == 1 and chosen[0]["terms"] == 2 and chosen[0]["pareto"]
    lines = format_selection({"rule": sel.rule, "folds": sel.folds, "table": sel.table})
    assert any(line.startswith("* d(y)/dt") for line in lines)
    # the chosen fit refits the chosen size on other rows (what the ensemble bags)
    refit = chosen_fit(elimination_path, sel.index)(theta[:1000], y[:1000])
    assert set(np.flatnonzero(refit[0])) == {0, 1}


def test_fixed_path_only_cross_validates():
    theta, y = _lookalikes()
    fold = fold_ids(np.zeros(len(y), int), np.arange(len(y)), 4, seed=0)
    lstsq = fixed_path(lambda th, dx: np.linalg.lstsq(th, dx, rcond=None)[0].T)
    sel = select_sparse(theta, y, fold, lstsq, ["y"])
    assert sel.index.tolist() == [0] and len(sel.table) == 1 and "given" in sel.rule


def test_folds_by_trajectory_or_by_blocks():
    traj = np.repeat([0, 1, 2], 4)
    f = fold_ids(traj, np.tile(np.arange(4), 3), 5, seed=1)
    assert len(set(f)) == 3  # at most one fold per trajectory
    assert all(len(set(f[traj == i])) == 1 for i in range(3))
    blocks = fold_ids(np.zeros(10, int), np.arange(10), 2, seed=0)
    assert blocks.tolist() == [0] * 5 + [1] * 5
    with pytest.raises(DataError, match="3 regression rows cannot be split into 5 held-out folds"):
        fold_ids(np.zeros(3, int), np.arange(3), 5, seed=0)
