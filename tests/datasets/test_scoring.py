"""The official score on predictions: hand-computed cases, the protocol's window, and the EMPS
physics-only reference of the dataset's README (8.44 mm with the published parameters)."""

from __future__ import annotations

import numpy as np
import pytest

from hybridwm.data import Trajectory, TrajectorySet
from hybridwm.datasets import emps, official_rmse, score_predictions, window_only
from hybridwm.errors import ConfigError, ShapeError, UnknownNameError


def test_rmse_by_hand():
    y = np.array([0.0, 0.0, 1.0, 1.0])
    assert official_rmse(y, np.array([5.0, 5.0, 0.0, 3.0]), 2, 1000.0) == pytest.approx(
        np.sqrt((1 + 4) / 2) * 1000
    )
    assert official_rmse(y[:, None], y[:, None] + 0.5, 0) == pytest.approx(0.5)
    assert official_rmse(y, np.array([9.0, np.nan, 1.0, 1.0]), 2) == 0.0  # window not scored
    assert official_rmse(y, np.array([0.0, 0.0, np.inf, 1.0]), 2) == np.inf


def test_rmse_refuses_bad_arguments():
    with pytest.raises(ShapeError, match=r"`predicted` must have the shape of `measured`"):
        official_rmse(np.zeros(4), np.zeros(3), 0)
    with pytest.raises(ConfigError, match=r"`n_init` must lie in \[0, 4\)"):
        official_rmse(np.zeros(4), np.zeros(4), 4)
    with pytest.raises(ConfigError, match="`n_init` must be an integer"):
        official_rmse(np.zeros(4), np.zeros(4), 1.5)


def test_window_only_hides_every_later_output():
    tr = Trajectory(np.arange(6.0), np.arange(6.0)[:, None], np.ones((6, 1)), ("y",), ("u",))
    (seen,) = window_only(TrajectorySet([tr]), 2)
    np.testing.assert_array_equal(seen.x[:, 0], [0, 1, 1, 1, 1, 1])
    np.testing.assert_array_equal(seen.u, tr.u)
    assert seen.meta["outputs_hidden_after"] == 2
    with pytest.raises(ConfigError, match=r"`n_init` must be an integer in \[1, 6\)"):
        window_only(TrajectorySet([tr]), 6)


@pytest.fixture(scope="module")
def em():
    return emps()


def _rk4_physics(tr: Trajectory, p: dict[str, float]) -> np.ndarray:
    """The README's reference: RK4 at the record's step from qm[19] and a central difference
    over qm[17..19], driven open loop by vir; the outputs 0..19 are the measured ones."""
    q, u, dt = tr.x[:, 0], tr.u[:, 0], tr.t[1]

    def f(x: np.ndarray, v: float) -> np.ndarray:
        force = p["gtau"] * v - p["Fv"] * x[1] - p["Fc"] * np.sign(x[1]) - p["offset"]
        return np.array([x[1], force / p["M"]])

    x = np.array([q[19], (q[19] - q[17]) / (2 * dt)])
    out = list(q[:20])
    for k in range(19, len(q) - 1):
        k1 = f(x, u[k])
        k2 = f(x + dt / 2 * k1, u[k])
        k3 = f(x + dt / 2 * k2, u[k])
        k4 = f(x + dt * k3, u[k])
        x = x + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        out.append(x[0])
    return np.array(out)


def test_emps_physics_reference_scores_8_44_mm(em):
    pred = _rk4_physics(em.split("test")[0], em.parameters)
    scores = score_predictions(em, {"test": pred})
    assert scores["test"] == pytest.approx(8.44, abs=0.005)
    published = {r.method: r.scores["test"] for r in em.published}
    assert published["physics only, published IDIM-LS parameters"] == 8.44
    with pytest.raises(UnknownNameError, match="`split` 'tst'"):
        score_predictions(em, {"tst": pred})
