"""A WorldModel whose actions are interpolated between samples (``intersample="foh"``): trained,
predicted, saved and loaded with it; refused by the compiled rollout, which holds actions."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg as sl

from hybridwm.control.compiled import CompiledSolve
from hybridwm.data import Trajectory, TrajectorySet
from hybridwm.dynamics import LinearPhysics
from hybridwm.errors import ConfigError
from hybridwm.models import WorldModel
from hybridwm.training import TrainConfig

A = np.array([[0.0, 1.0], [-25.0, -0.5]])
B = np.array([[0.0], [25.0]])
DT = 0.05


def foh_record(x0: np.ndarray, u: np.ndarray) -> np.ndarray:
    """(T+1, 2) exact states under ``u`` (T+1,) interpolated linearly between samples."""
    M = np.zeros((4, 4))
    M[:2, :2], M[:2, 2:3], M[2, 3] = A, B, 1.0
    E = sl.expm(M * DT)
    xs = [x0]
    for k in range(len(u) - 1):
        z = np.concatenate([xs[-1], [u[k], (u[k + 1] - u[k]) / DT]])
        xs.append((E @ z)[:2])
    return np.stack(xs)


@pytest.fixture(scope="module")
def data() -> TrajectorySet:
    rng = np.random.default_rng(0)
    t = np.arange(61) * DT
    out = []
    for _ in range(4):
        u = np.sin(2.0 * t + rng.uniform(0, 6)) + 0.3 * np.sin(5.0 * t)
        x = foh_record(rng.normal(size=2), u)
        out.append(Trajectory(t, x, u[:, None], ["x0", "x1"], ["u0"]))
    return TrajectorySet(out)


def test_a_first_order_hold_model_predicts_a_sampled_smooth_input_exactly(data, tmp_path):
    phys = LinearPhysics(A, B)
    config = TrainConfig(steps=1, horizon=10, batch_size=8, progress=False)
    foh = WorldModel.physics(phys, intersample="foh", substeps=4).fit(data, config)
    zoh = WorldModel.physics(phys, substeps=4).fit(data, config)
    err_foh = max(np.abs(p.x - tr.x).max() for p, tr in zip(foh.predict(data), data, strict=True))
    err_zoh = max(np.abs(p.x - tr.x).max() for p, tr in zip(zoh.predict(data), data, strict=True))
    assert err_foh < 1e-4 < 0.5 < err_zoh  # rk4 error against half a step of input delay
    loaded = WorldModel.load(foh.save(tmp_path / "foh"), physics=phys)
    assert loaded.intersample == "foh" and loaded.model_.intersample == "foh"
    for p, q in zip(foh.predict(data), loaded.predict(data), strict=True):
        np.testing.assert_array_equal(p.x, q.x)
    with pytest.raises(ConfigError, match=r"interpolates its actions .*intersample='foh'"):
        CompiledSolve(foh.model_)


def test_unknown_intersample_is_refused(data):
    with pytest.raises(ConfigError, match=r"intersample"):
        WorldModel.physics(LinearPhysics(A, B), intersample="sinc").fit(
            data, TrainConfig(steps=1, horizon=5, progress=False)
        )
