"""The support gate: 1 on the training data, closing beyond them, saved, stacked, validated."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hybridwm.data import TrajectorySet
from hybridwm.dynamics import PendulumPhysics, SupportGate, reference_dataset
from hybridwm.dynamics.support import gate_value
from hybridwm.errors import ConfigError, ShapeError
from hybridwm.models import MLP, WorldModel, WorldModelEnsemble
from hybridwm.training import TrainConfig

TRUE = PendulumPhysics(w0=3.0, damping=0.3, gain=1.0)
#: the physics the hybrid is given: 10 % off in frequency, no damping, so the residual learns
APPROX = PendulumPhysics(w0=2.7, damping=0.0, gain=1.0)


def cfg(**kw) -> TrainConfig:
    base = dict(steps=30, batch_size=64, horizon=6, progress=False, patience=None, seed=0)
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def data():
    return reference_dataset(TRUE, 12, 40, 0.05, seed=0)


@pytest.fixture(scope="module")
def hybrid(data):
    return WorldModel.hybrid(APPROX, residual=MLP(hidden=(16,))).fit(data, cfg())


def _gate_at(model: WorldModel, theta: float, omega: float) -> float:
    dyn = model.model_.dynamics
    x = torch.tensor([[theta, omega]], dtype=torch.float64)
    u = torch.zeros(1, 1, dtype=torch.float64)
    return float(dyn.gate(dyn.residual_inputs(x, u)))


def test_gate_is_one_on_every_training_sample_and_closes_off_the_data(hybrid, data):
    dyn = hybrid.model_.dynamics
    assert isinstance(dyn.gate, SupportGate) and dyn.gate.n_anchors == 128
    x = torch.as_tensor(np.concatenate([tr.x for tr in data]))
    u = torch.as_tensor(np.concatenate([tr.u for tr in data]))
    g = dyn.gate(dyn.residual_inputs(x, u))
    assert g.shape == (len(x), 1)
    # the training split is a part of data; the validation episodes lie among them
    assert float(g.min()) > 0.9 and float(g.median()) == 1.0
    top = max(abs(float(x[:, 0].max())), abs(float(x[:, 0].min())))
    assert top < 2.0  # the data never swing over the top ...
    assert _gate_at(hybrid, math.pi, 0.0) < 1e-3  # ... so at upright the hybrid is its physics
    inverted = torch.tensor([[math.pi, 0.0]], dtype=torch.float64)
    zero_u = torch.zeros(1, 1, dtype=torch.float64)
    np.testing.assert_allclose(
        dyn.vector_field(inverted, zero_u).detach(),
        dyn.physics_term(inverted, zero_u).detach(),
        atol=1e-3 * float(dyn.normalizer.dx_scale.max()),
    )


def test_gate_off_leaves_the_residual_ungated(data):
    model = WorldModel.hybrid(APPROX, residual=MLP(hidden=(16,)), gate="off").fit(data, cfg())
    assert model.model_.dynamics.gate is None


def test_inputs_gate_also_measures_actions(data, hybrid):
    # the residual's inputs: ω (normalized), sin θ, cos θ, then the torque
    assert hybrid.model_.dynamics.gate.column_index.tolist() == [0, 1, 2]
    model = WorldModel.hybrid(APPROX, residual=MLP(hidden=(16,)), gate="inputs")
    model.fit(data, cfg(steps=2))
    assert model.model_.dynamics.gate.column_index.tolist() == [0, 1, 2, 3]


def test_learned_models_have_no_gate(data):
    learned = WorldModel.learned(hidden=(8,)).fit(data, cfg(steps=20))
    assert learned.model_.dynamics.gate is None


def test_gate_saved_and_loaded_bit_for_bit(hybrid, data, tmp_path):
    hybrid.save(tmp_path / "m")
    back = WorldModel.load(tmp_path / "m", physics=APPROX)
    assert back.gate == "states" and back.gate_width == 0.5
    a = np.stack([tr.x for tr in hybrid.predict(data)])
    b = np.stack([tr.x for tr in back.predict(data)])
    np.testing.assert_array_equal(a, b)
    assert torch.equal(back.model_.dynamics.gate.anchors, hybrid.model_.dynamics.gate.anchors)


def test_stacked_ensemble_applies_each_members_gate(data):
    ens = WorldModelEnsemble("hybrid", physics=APPROX, n_members=2, hidden=(8,))
    ens.fit(data, cfg(steps=5))
    assert ens._stacked.gates is not None  # the batched path, not one member at a time
    sub = TrajectorySet(list(data)[:2])
    stacked = np.stack([tr.x for tr in ens.predict(sub)])
    one_by_one = np.mean([np.stack([tr.x for tr in m.predict(sub)]) for m in ens.members_], 0)
    np.testing.assert_allclose(stacked, one_by_one, rtol=1e-9, atol=1e-12)


def test_gate_value_batched_matches_per_member():
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(2, 5, 3, generator=gen, dtype=torch.float64)
    anchors = torch.randn(2, 4, 3, generator=gen, dtype=torch.float64)
    cover = torch.tensor([0.1, 0.3], dtype=torch.float64)[:, None, None]
    width = torch.tensor([0.5, 1.0], dtype=torch.float64)[:, None, None]
    both = gate_value(z, anchors, cover, width)
    for m in range(2):
        one = gate_value(z[m], anchors[m], cover[m, 0, 0], width[m, 0, 0])
        torch.testing.assert_close(both[m], one)


def test_fit_is_deterministic_and_covers_the_samples():
    z = torch.randn(500, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    a = SupportGate([0, 2], n_anchors=16).fit(z)
    b = SupportGate([0, 2], n_anchors=16).fit(z)
    assert torch.equal(a.anchors, b.anchors) and float(a.cover) > 0
    assert bool((a(z) == 1.0).all())


def test_bad_gate_settings_are_named():
    with pytest.raises(ConfigError, match="at least one input column"):
        SupportGate([])
    with pytest.raises(ConfigError, match="width > 0"):
        SupportGate([0], width=0.0)
    with pytest.raises(ShapeError, match=r"\(m, n_in\) samples"):
        SupportGate([0, 3]).fit(torch.zeros(10, 2))
    with pytest.raises(ShapeError, match="no finite training sample"):
        SupportGate([0]).fit(torch.full((3, 1), float("nan")))
    with pytest.raises(ConfigError, match="gate"):
        WorldModel.hybrid(APPROX, residual=MLP(hidden=(8,)), gate="everywhere").fit(
            reference_dataset(TRUE, 2, 10, 0.05, seed=0), cfg(steps=1)
        )
    with pytest.raises(ConfigError, match="gate_width"):
        WorldModel.hybrid(APPROX, residual=MLP(hidden=(8,)), gate_width=-1).fit(
            reference_dataset(TRUE, 2, 10, 0.05, seed=0), cfg(steps=1)
        )


def test_adapting_the_residual_widens_the_gate_to_the_new_record(data):
    model = WorldModel.hybrid(APPROX, residual=MLP(hidden=(8,))).fit(data, cfg(steps=2))
    fast = reference_dataset(PendulumPhysics(w0=3.0, damping=0.3, gain=4.0), 4, 40, 0.05, seed=5)
    dyn = model.model_.dynamics
    before = float(dyn.gate.cover)
    x = torch.as_tensor(np.concatenate([tr.x for tr in fast]))
    u = torch.as_tensor(np.concatenate([tr.u for tr in fast]))
    assert float(dyn.gate(dyn.residual_inputs(x, u)).min()) < 0.5  # new ground
    model.adapt(fast, cfg(steps=2), parts="residual")  # in place
    assert float(dyn.gate(dyn.residual_inputs(x, u)).min()) == 1.0
    assert float(dyn.gate.cover) >= before
