"""What planners predict with: a fitted WorldModel or the MuJoCo oracle, batched."""

from __future__ import annotations

import copy
import shutil
import warnings

import numpy as np
import pytest
import torch

from hybridwm.control import (
    MPPI,
    ModelRollout,
    OracleRollout,
    PlannerConfig,
    get_task,
    make_rollout,
)
from hybridwm.errors import ConfigError, NotFittedError, ShapeError
from hybridwm.models import WorldModel
from hybridwm.models.building import dtype_device
from hybridwm.training import TrainConfig

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


def _gated_hybrid(data) -> WorldModel:
    """A fitted pendulum hybrid with a support gate and a residual that is not zero."""
    from hybridwm.physics import declare

    prior = declare(
        ["d(theta) = omega", "d(omega) = -a*sin(theta) - c*omega + b*torque"],
        {"a": {"value": 14.0, "bounds": [0.0, 50.0]}, "c": 0.15, "b": 3.0},
        action_names=["torque"],
        fixed=["c", "b"],
    )
    model = WorldModel.from_kind("hybrid", physics=prior, hidden=(8, 8))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model.fit(data, TrainConfig(steps=2, horizon=5, batch_size=8, progress=False))
    with torch.no_grad():  # a residual that acts, so the compiled MLP is compared too
        model.model_.dynamics.residual.net[-1].weight.normal_(0.0, 0.3, generator=None)
    model.model_.substeps = 2  # two solver steps per control period
    return model


@pytest.mark.skipif(
    shutil.which("c++") is None and shutil.which("g++") is None,
    reason="torch.compile (inductor) needs a C++ compiler",
)
def test_a_compiled_rollout_predicts_what_the_model_does(pendulum_data):
    torch.manual_seed(0)
    model = _gated_hybrid(pendulum_data)
    assert model.model_.dynamics.gate is not None
    x0, us = _inputs(16, 6)
    plain, compiled = make_rollout(model, TASK), make_rollout(model, TASK, compile=True)
    assert compiled.compiled is not None and plain.compiled is None
    xs = compiled(x0, us)
    assert xs.shape == (16, 7, 2) and xs.dtype == torch.float64
    torch.testing.assert_close(xs, plain(x0, us), rtol=0.0, atol=1e-12)  # round-off only
    assert float((xs - x0[:, None]).abs().max()) > 1e-3  # it moved
    # the planner over it acts as over the plain model (the same noise, the same scores)
    cfg = PlannerConfig(samples=16, horizon=6, seed=3)
    state = np.array([0.3, -0.2])
    a = MPPI(compiled, TASK, cfg).act(state)
    np.testing.assert_allclose(a, MPPI(plain, TASK, cfg).act(state), rtol=0, atol=1e-9)
    with pytest.raises(
        ShapeError, match=r"A compiled rollout takes x0 \(K, 2\) and us \(K, H, 1\)"
    ):
        compiled(x0, us[:3])


def test_compile_errors_name_what_cannot_be_compiled(physics_model):
    with pytest.raises(ConfigError, match=r"`compile=True` compiles a WorldModel's solve"):
        make_rollout("oracle", TASK, compile=True)
    adaptive = copy.deepcopy(physics_model)
    adaptive.model_.solver = "dopri5"
    with pytest.raises(ConfigError, match=r"needs a fixed-step solver .* uses 'dopri5'"):
        ModelRollout(adaptive, TASK, compile=True)
