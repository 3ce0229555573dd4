"""``ModelSpec.residual_inputs``: a hybrid's residual that reads some states and actions only,
its gate measured in those, saved and loaded, stacked in an ensemble, and every input error."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hybridwm.data import TrajectorySet
from hybridwm.dynamics import MLP, HybridDynamics, PendulumPhysics, reference_dataset
from hybridwm.errors import ConfigError, ShapeError
from hybridwm.models import WorldModel
from hybridwm.models.ensemble import WorldModelEnsemble
from hybridwm.models.stacking import StackedDynamics
from hybridwm.training import TrainConfig

TRUE = PendulumPhysics(w0=3.0, damping=0.3, gain=1.0)
PHYS = PendulumPhysics(w0=3.0, damping=0.0, gain=1.0)  # misses the damping: -0.3 omega
pytestmark = pytest.mark.filterwarnings("ignore:Training ran:UserWarning")
CFG = TrainConfig(steps=40, batch_size=64, horizon=8, progress=False, patience=None, seed=0)


@pytest.fixture(scope="module")
def data() -> TrajectorySet:
    return reference_dataset(TRUE, 6, 30, 0.05, seed=0)


@pytest.fixture(scope="module")
def velocity(data) -> WorldModel:
    return WorldModel.hybrid(PHYS, hidden=(16,), residual_inputs=("omega", "torque")).fit(data, CFG)


def _points(theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(5, 2) states at angle ``theta`` with velocities inside the data, and (5, 1) actions."""
    omega = torch.linspace(-1.0, 1.0, 5, dtype=torch.float64)
    x = torch.stack((torch.full_like(omega, theta), omega), -1)
    return x, torch.full((5, 1), 0.2, dtype=torch.float64)


def test_the_residual_reads_the_named_inputs_only(velocity) -> None:
    dyn = velocity.model_.dynamics
    assert velocity.residual_inputs == ("omega", "torque")
    # theta is an angle: the full inputs are (omega, sin theta, cos theta, torque)
    assert dyn.residual_columns.tolist() == [0, 3]
    assert dyn.residual.n_in == 2
    with torch.no_grad():
        near, far = (dyn.residual_term(*_points(th)) for th in (0.1, 3.0))
    assert near.abs().max() > 0  # it learned something
    torch.testing.assert_close(near, far, rtol=0, atol=0)  # and it cannot depend on theta


def test_the_gate_measures_the_states_the_residual_reads(velocity, data) -> None:
    dyn = velocity.model_.dynamics
    assert dyn.gate.column_index.tolist() == [0]  # omega, in the residual's 2 inputs
    with torch.no_grad():
        open_, upright = (dyn.gate(dyn.residual_inputs(*_points(th))) for th in (0.1, 3.0))
    torch.testing.assert_close(open_, upright)  # theta = 3 is as near the data as theta = 0.1
    plain = WorldModel.hybrid(PHYS, hidden=(16,)).fit(data, CFG).model_.dynamics
    with torch.no_grad():
        closed = plain.gate(plain.residual_inputs(*_points(3.0)))
    assert closed.max() < 0.05 and open_.min() > 0.5  # the full-state gate shuts at theta = 3


def test_fitting_takes_the_damping_into_the_residual(velocity, data) -> None:
    """The residual that reads omega and torque learns the missing -0.3 omega well enough to
    beat the physics alone on the training episodes."""
    physics = WorldModel.physics(PHYS).fit(data, TrainConfig(steps=1, progress=False))
    x0, us = np.stack([tr.x[0] for tr in data]), np.stack([tr.u[:-1] for tr in data])
    truth = np.stack([tr.x for tr in data])
    err = {
        name: float(np.mean((m.rollout(x0, us, dt=0.05) - truth) ** 2))
        for name, m in (("hybrid", velocity), ("physics", physics))
    }
    assert err["hybrid"] < 0.5 * err["physics"]


def test_save_and_load_keep_the_inputs(velocity, data, tmp_path) -> None:
    velocity.save(tmp_path / "m")
    loaded = WorldModel.load(tmp_path / "m", physics=PHYS)
    assert loaded.residual_inputs == ("omega", "torque")
    assert loaded.model_.dynamics.residual_columns.tolist() == [0, 3]
    x0, us = np.stack([tr.x[0] for tr in data]), np.stack([tr.u[:-1] for tr in data])
    np.testing.assert_array_equal(
        loaded.rollout(x0, us, dt=0.05), velocity.rollout(x0, us, dt=0.05)
    )


def test_a_stacked_ensemble_reads_the_same_inputs(data) -> None:
    ens = WorldModelEnsemble(
        "hybrid", n_members=2, physics=PHYS, hidden=(8,), residual_inputs=["omega", "torque"]
    ).fit(data, CFG)
    fields = [m.model_.dynamics for m in ens.members_]
    stacked = StackedDynamics(fields)
    x, u = _points(0.3)
    with torch.no_grad():
        batched = stacked.vector_field(torch.cat((x, x)), torch.cat((u, u)))
        each = torch.cat([f.vector_field(x, u) for f in fields])
    torch.testing.assert_close(batched, each)


def test_errors_name_the_argument_and_the_fix(data) -> None:
    with pytest.raises(ConfigError, match=r"`residual_inputs` names \['phi'\], which are neither"):
        WorldModel.hybrid(PHYS, residual_inputs=("omega", "phi")).fit(data, CFG)
    with pytest.raises(ConfigError, match=r"a list of state and action names.*\['omega'\]"):
        WorldModel.hybrid(PHYS, residual_inputs="omega").fit(data, CFG)
    with pytest.raises(ConfigError, match=r"each once.*repeated: \['omega'\]"):
        WorldModel.hybrid(PHYS, residual_inputs=("omega", "omega")).fit(data, CFG)
    with pytest.raises(ConfigError, match=r"at least one state or action"):
        WorldModel.hybrid(PHYS, residual_inputs=()).fit(data, CFG)
    with pytest.raises(ConfigError, match=r"a learned model has one network for its whole"):
        WorldModel.learned(residual_inputs=("omega",)).fit(data, CFG)
    with pytest.raises(ConfigError, match=r"a physics model has no residual"):
        WorldModel.physics(PHYS, residual_inputs=("omega",)).fit(data, CFG)


def test_the_field_checks_its_columns() -> None:
    net = MLP(hidden=(4,)).build(2, 2)
    with pytest.raises(
        ShapeError, match=r"`residual_columns` must be positions in the residual's 3 full"
    ):
        HybridDynamics(("theta", "omega"), ("torque",), None, net, residual_columns=[0, 7])
    with pytest.raises(ShapeError, match=r"The residual takes 2 inputs.*= 3, of which it reads 1"):
        HybridDynamics(("theta", "omega"), ("torque",), None, net, residual_columns=[2])


def test_members_that_read_different_inputs_are_not_stacked(data) -> None:
    """Two residuals of the same width (no gate) that read (omega, torque) and (sin, cos theta)."""
    quick = TrainConfig(steps=2, progress=False, patience=None, seed=0)
    fields = [
        WorldModel.hybrid(PHYS, hidden=(8,), gate="off", residual_inputs=names)
        .fit(data, quick)
        .model_.dynamics
        for names in (("omega", "torque"), ("theta",))
    ]
    assert [f.residual_columns.tolist() for f in fields] == [[0, 3], [1, 2]]
    with pytest.raises(ConfigError, match=r"residuals read different inputs \(columns \[\[0, 3\]"):
        StackedDynamics(fields)
