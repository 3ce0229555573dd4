"""What planners predict with: a fitted WorldModel or the MuJoCo oracle, batched."""

from __future__ import annotations

import pytest
import torch

from hybridwm.control import ModelRollout, OracleRollout, get_task, make_rollout
from hybridwm.errors import ConfigError, NotFittedError, ShapeError
from hybridwm.models import WorldModel
from hybridwm.models.building import dtype_device

TASK = get_task("pendulum-swingup")


def _inputs(k: int = 6, h: int = 10):
    gen = torch.Generator().manual_seed(0)
    x0 = (torch.rand(k, 2, generator=gen, dtype=torch.float64) - 0.5) * 4
    us = (torch.rand(k, h, 1, generator=gen, dtype=torch.float64) - 0.5) * 4
    return x0, us


def test_exact_physics_model_predicts_what_mujoco_simulates(physics_model):
    x0, us = _inputs()
    model = make_rollout(physics_model, TASK)
    coarse = make_rollout("oracle", TASK)  # one RK4 step per control period, as the model
    exact = make_rollout("oracle", TASK, timestep=0.002)  # the system's own step
    xs = model(x0, us)
    assert xs.shape == (6, 11, 2)
    torch.testing.assert_close(xs[:, 0], x0)
    assert float((xs - coarse(x0, us)).abs().max()) < 1e-4
    assert float((xs - exact(x0, us)).abs().max()) < 1e-4


def test_float32_copy_leaves_the_model_alone(physics_model):
    x0, us = _inputs()
    r32 = ModelRollout(physics_model, TASK, dtype=torch.float32)
    assert r32.dtype == torch.float32 and r32.model is not physics_model
    xs = r32(x0.float(), us.float())
    assert xs.dtype == torch.float32
    assert float((xs.double() - make_rollout(physics_model, TASK)(x0, us)).abs().max()) < 1e-3
    assert dtype_device(physics_model.model_)[0] == torch.float64


def test_oracle_marks_diverged_samples_nan():
    oracle = OracleRollout(TASK, nthread=1)
    x0, us = _inputs(2, 3)
    x0[1, 1] = 1e30
    xs = oracle(x0, us)
    assert torch.isfinite(xs[0]).all() and torch.isnan(xs[1]).all()


def test_rollout_errors_name_the_argument(physics_model):
    with pytest.raises(NotFittedError, match=r"`model` \(learned\) is not fitted yet"):
        make_rollout(WorldModel.learned(), TASK)
    with pytest.raises(ShapeError, match=r"`model` must predict the cartpole states"):
        make_rollout(physics_model, get_task("cartpole-swingup"))
    with pytest.raises(ConfigError, match=r"`model` must be a fitted WorldModel or the string"):
        make_rollout("orcale", TASK)
    with pytest.raises(ConfigError, match=r"`model` must be a fitted WorldModel \(or 'oracle'\)"):
        ModelRollout("model", TASK)
    with pytest.raises(ConfigError, match=r"`timestep` of OracleRollout must divide"):
        OracleRollout(TASK, timestep=0.03)
    with pytest.raises(ConfigError, match=r"`timestep` of OracleRollout must be a number in"):
        OracleRollout(TASK, timestep=0.5)
    with pytest.raises(ConfigError, match=r"`nthread` of OracleRollout must be >= 1"):
        OracleRollout(TASK, nthread=0)
    with pytest.raises(ShapeError, match=r"OracleRollout takes x0 \(K, 2\)"):
        OracleRollout(TASK)(torch.zeros(3, 4), torch.zeros(3, 2, 1))
