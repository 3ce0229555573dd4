"""What a fitted model says about itself: the residual's share of the field, how far the
physics moved, the training row, and which systems have incomplete physics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hybridwm.errors import DataError, NotFittedError
from hybridwm.evaluation.coefficients import incomplete_physics
from hybridwm.evaluation.inspection import physics_change, residual_share, training_row
from hybridwm.models import WorldModel
from hybridwm.physics import DiscoverConfig, declare, discover
from hybridwm.systems import simulate
from hybridwm.training import TrainConfig

TRAIN = TrainConfig(epochs=1, horizon=5, seed=0, progress=False, threads=1)


@pytest.fixture(scope="module")
def data():
    torch.set_num_threads(1)
    return simulate(system="pendulum", scenario="train", n_trajectories=4, duration=0.5, seed=0)


@pytest.fixture(scope="module")
def phys(data):
    return discover(data, config=DiscoverConfig(angles=["theta"], seed=0))


@pytest.fixture(scope="module")
def hybrid(data, phys):
    return WorldModel.hybrid(phys, hidden=(8,)).fit(data, TRAIN)


@pytest.fixture(scope="module")
def learned(data):
    return WorldModel.learned((8,)).fit(data, TRAIN)


def _constant_residual(model: WorldModel, bias: list[float]) -> WorldModel:
    """The model with a residual that outputs ``bias`` (normalized units) everywhere."""
    out = model.model_.dynamics.residual.net[-1]
    with torch.no_grad():
        out.weight.zero_()
        out.bias.copy_(torch.tensor(bias, dtype=out.bias.dtype))
    return model


def test_residual_share_of_a_silent_residual_is_zero(hybrid, data) -> None:
    _constant_residual(hybrid, [0.0, 0.0])
    assert residual_share(hybrid, data) == 0.0


def test_residual_share_is_rms_residual_over_rms_field_averaged_over_states(
    hybrid, phys, data
) -> None:
    dyn = _constant_residual(hybrid, [0.0, 0.5]).model_.dynamics
    c = 0.5 * float(dyn.normalizer.dx_scale[1])  # the residual of d(omega)/dt, physical units
    x = np.concatenate([tr.x for tr in data])
    u = np.concatenate([tr.u for tr in data])
    field = phys.predict(x, u)  # the physics alone, computed by numpy
    rms_field = np.sqrt(np.mean(field**2, axis=0))
    rms_total = np.sqrt(np.mean((field[:, 1] + c) ** 2))
    # d(theta)/dt has no residual (share 0); d(omega)/dt has |c| / RMS(f_phys + c)
    want = (0.0 + abs(c) / rms_total) / 2
    assert rms_field.min() > 0
    assert residual_share(hybrid, data) == pytest.approx(want, rel=1e-6)
    assert 0 < want < 1


def test_residual_share_needs_physics_and_a_residual(learned, phys, data) -> None:
    assert residual_share(learned, data) is None
    physics_only = WorldModel.physics(phys).fit(data, TRAIN)
    assert residual_share(physics_only, data) is None


def test_residual_share_of_a_model_with_unrecorded_states_is_none(hybrid, data) -> None:
    renamed = type(data)(tr.replace(state_names=("theta", "other")) for tr in data)
    assert residual_share(hybrid, renamed) is None


def test_residual_share_errors(phys, data) -> None:
    with pytest.raises(NotFittedError, match=r"`model` of residual_share must be a fitted"):
        residual_share(WorldModel.hybrid(phys), data)
    with pytest.raises(DataError, match=r"`data` of residual_share must be a TrajectorySet"):
        residual_share(WorldModel.hybrid(phys), list(data))


def test_physics_change_names_the_coefficient_that_moved_most(phys) -> None:
    assert physics_change(phys, phys) == (0.0, None)
    coef = phys.coef_array
    row, col = np.argwhere(coef != 0)[-1]
    moved = coef.copy()
    moved[row, col] *= 1.25
    change, term = physics_change(phys, phys.with_coefficients(moved))
    assert change == pytest.approx(0.25)
    assert term == f"{phys.state_names[row]}: {phys.feature_names[col]}"


def test_physics_change_of_a_declared_prior_compares_its_parameters() -> None:
    prior = declare(
        {"theta": "omega", "omega": "-w0**2*sin(theta) - c*omega"},
        {"w0": 3.0, "c": 0.2},
    )
    change, term = physics_change(prior, prior.with_parameters(w0=3.3, c=0.21))
    assert (change, term) == (pytest.approx(0.1), "w0")


def test_training_row_records_steps_stop_reason_and_fitted_physics(hybrid, learned, phys) -> None:
    row = training_row(hybrid, phys, system="pendulum", kind="hybrid", seed=0, scenario="train")
    assert row.steps == hybrid.history_.steps > 0
    assert row.stop_reason == hybrid.history_.stop_reason
    assert row.best_epoch == hybrid.history_.best_epoch
    assert row.physics_change == 0.0  # discovered physics is not trained by default
    assert row.coefficients is not None and "omega" in row.coefficients
    row = training_row(learned, None, system="pendulum", kind="learned", seed=0, scenario="train")
    assert row.physics_change is None and row.coefficients is None


def test_training_row_of_a_model_never_adapted_is_an_error(learned) -> None:
    with pytest.raises(NotFittedError, match="has no adaptation history; adapt it first"):
        training_row(
            learned, None, system="pendulum", kind="learned", seed=0, scenario="x", adapted=True
        )


def test_incomplete_physics_of_rigs_and_exact_systems() -> None:
    assert incomplete_physics("pendulum") is False
    assert incomplete_physics("cartpole") is False
    assert incomplete_physics("pendulum-rig") is True


def test_training_row_of_a_trained_prior_records_how_far_its_parameters_moved(data) -> None:
    prior = declare(
        {"theta": "omega", "omega": "-w0**2*sin(theta) + b*torque"},
        {"w0": 2.0, "b": 1.0},
        action_names=["torque"],
    )
    model = WorldModel.physics(prior).fit(data, TRAIN.replace(lr=0.05))
    row = training_row(model, prior, system="pendulum", kind="physics", seed=0, scenario="train")
    assert set(row.parameters) == {"w0", "b"} and row.coefficients is None
    moved = {k: abs(v - prior.parameter_values[k]) / prior.parameter_values[k]
             for k, v in row.parameters.items()}  # fmt: skip
    assert max(moved.values()) > 0  # trainable physics moves during the fit
    assert row.physics_change == pytest.approx(max(moved.values()))
    assert row.physics_change_term == max(moved, key=moved.get)
