"""WorldModel.with_parameters: a fitted model told a known parameter change (ood-params-known)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hybridwm.errors import ConfigError, NotFittedError, UnknownNameError
from hybridwm.metrics import nrmse_trajectories
from hybridwm.models import WorldModel
from hybridwm.physics import PhysicsModel, declare
from hybridwm.systems import get_system, simulate
from hybridwm.training import TrainConfig

torch.set_num_threads(1)

PRIOR = [
    "d(theta) = omega",
    "d(omega) = -(3*g/(2*length))*sin(theta) + 3/(mass*length**2)*(torque - damping*omega)",
]


def _prior(**start: float):
    g = float(get_system("pendulum").true_equations().constants["g"])
    values = {"mass": 1.0, "length": 1.0, "damping": 0.05, **start}
    return declare(
        PRIOR,
        parameters=values,
        state_names=["theta", "omega"],
        action_names=["torque"],
        bounds=dict.fromkeys(values, (0.0, None)),
        fixed={"g": g},
    )


@pytest.fixture(scope="module")
def train():
    return simulate(
        system="pendulum", scenario="train", n_trajectories=6, duration=1.0, dt=0.01, seed=0
    )


@pytest.fixture(scope="module")
def hybrid(train):
    cfg = TrainConfig(steps=30, horizon=10, progress=False, seed=0)
    return WorldModel.hybrid(physics=_prior(mass=1.1)).fit(train, cfg)


def test_told_physics_matches_the_shifted_system(train):
    """The exact prior, fitted on the nominal pendulum and told "1.5x heavier, 3x damped",
    predicts the shifted MuJoCo pendulum as well as the prior built at the new values."""
    cfg = TrainConfig(steps=30, horizon=10, progress=False, seed=0)
    model = WorldModel.physics(_prior(mass=1.1)).fit(train, cfg)
    fitted = model.physics_.parameter_values
    new = {"mass": 1.5 * fitted["mass"], "damping": 3 * fitted["damping"]}
    told = model.with_parameters(**new)
    assert told.physics_.parameter_values["mass"] == pytest.approx(new["mass"], rel=1e-12)
    assert told.physics_.parameter_values["length"] == pytest.approx(fitted["length"], rel=1e-12)
    assert model.physics_.parameter_values == fitted  # the original is unchanged
    assert told.physics_original_ is model.physics_model
    shifted = simulate(
        system="pendulum",
        scenario="id",
        n_trajectories=3,
        duration=2.0,
        dt=0.01,
        seed=5,
        params={"mass": 1.5, "damping": 0.15},
    )
    err_told = nrmse_trajectories(told.predict(shifted), shifted)
    err_zero_shot = nrmse_trajectories(model.predict(shifted), shifted)
    assert err_told < 0.2 * err_zero_shot


def test_hybrid_keeps_its_residual(hybrid, train, tmp_path):
    told = hybrid.with_parameters(length=2.0)
    dyn, dyn_told = hybrid.model_.dynamics, told.model_.dynamics
    for p, q in zip(dyn.residual.parameters(), dyn_told.residual.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    assert told.physics_.parameter_values["length"] == pytest.approx(2.0, rel=1e-12)
    # the change survives save -> load
    loaded = WorldModel.load(told.save(tmp_path / "told"))
    for a, b in zip(told.predict(train[:2]), loaded.predict(train[:2]), strict=True):
        np.testing.assert_allclose(a.x, b.x, rtol=1e-12, atol=1e-12)


def test_with_parameters_errors(hybrid, train):
    with pytest.raises(UnknownNameError, match=r"Unknown parameter\(s\) \['heft'\]"):
        hybrid.with_parameters(heft=2.0)
    with pytest.raises(ConfigError, match=r"'mass' = -1 lies outside its bounds \[0, inf\]"):
        hybrid.with_parameters(mass=-1.0)
    with pytest.raises(ConfigError, match="at least one parameter"):
        hybrid.with_parameters()
    with pytest.raises(NotFittedError, match="with_parameters"):
        WorldModel.hybrid(physics=_prior()).with_parameters(mass=2.0)
    cfg = TrainConfig(steps=2, horizon=5, progress=False)
    learned = WorldModel.learned().fit(train[:2], cfg)
    with pytest.raises(ConfigError, match="this learned model has no physics"):
        learned.with_parameters(mass=2.0)
    coef = np.array([[0.0, 1.0, 0.0], [-14.7, -0.15, 3.0]])  # as discovery writes equations
    found = PhysicsModel(("theta", "omega"), ("torque",), ["sin(theta)", "omega", "torque"], coef)
    discovered = WorldModel.physics(found).fit(train[:2], cfg)
    with pytest.raises(ConfigError, match="discovered coefficients"):
        discovered.with_parameters(mass=2.0)
