"""Budgets in optimizer steps, patience in steps, the wall-clock cap, APHYNITY's multiplier, and
a residual that starts at exactly zero."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hybridwm.data.windows import make_windows
from hybridwm.dynamics import (
    MLP,
    HybridDynamics,
    LinearPhysics,
    Normalizer,
    ODEModel,
    reference_dataset,
)
from hybridwm.errors import ConfigError
from hybridwm.training import Objective, TrainConfig, Trainer, evaluate_windows, to_batch
from hybridwm.training.config import DEFAULT_STEPS

A_TRUE = np.array([[0.0, 1.0], [-4.0, -0.5]])
A_PHYS = np.array([[0.0, 1.0], [-4.0, 0.0]])  # misses the damping
B = np.array([[0.0], [1.0]])


@pytest.fixture(scope="module")
def windows():
    data = reference_dataset(LinearPhysics(A_TRUE, B), 6, 30, 0.05, seed=0)
    return make_windows(data[:5], 5), make_windows(data[5:], 29)


def make_model(init_scale: float = 0.0) -> ODEModel:
    torch.manual_seed(0)
    norm = Normalizer(2, 1).set(x_min=[-1.5, -3.0], x_max=[1.5, 3.0], dx_scale=[2.0, 5.0])
    mlp = MLP((16,), init_scale=init_scale).build(3, 2)
    return ODEModel(HybridDynamics(("x0", "x1"), ("u0",), LinearPhysics(A_PHYS, B), mlp, norm))


def cfg(**kw) -> TrainConfig:
    base = dict(batch_size=32, horizon=5, lr=1e-2, progress=False, patience=None)
    return TrainConfig(**{**base, **kw})


def test_steps_is_the_budget_and_the_last_epoch_stops_part_way(windows):
    train, val = windows
    per_epoch = sum(-(-len(g) // 32) for g in train)
    assert 1 < per_epoch < 7  # so the budget ends inside an epoch
    h = Trainer(make_model(), cfg(steps=7)).fit(train, val)
    assert h.steps == 7 and h.stop_reason == "steps"
    assert [r["steps"] for r in h.records[1:]] == [per_epoch] * (7 // per_epoch) + [7 % per_epoch]
    assert TrainConfig().optim.total_steps(5) == DEFAULT_STEPS
    assert TrainConfig(epochs=3).optim.total_steps(5) == 15
    assert Trainer(make_model(), cfg(epochs=2)).fit(train, val).stop_reason == "epochs"


def test_two_budgets_are_refused():
    with pytest.raises(ConfigError, match=r"two budgets, steps=10 and epochs=2\. Give one"):
        TrainConfig(steps=10, epochs=2)


def test_the_wall_clock_cap_never_shapes_the_schedule(windows):
    """The same seed and step budget give the same run with and without a (generous) cap."""
    train, val = windows
    a, b = make_model(), make_model()
    ha = Trainer(a, cfg(steps=12)).fit(train, val)
    hb = Trainer(b, cfg(steps=12, max_time=3600.0)).fit(train, val)
    assert [r["lr"] for r in ha.records] == [r["lr"] for r in hb.records]
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k
    capped = Trainer(make_model(), cfg(steps=10**6, max_time=0.2)).fit(train, val)
    assert capped.stop_reason == "max_time" and capped.steps < 10**6


def test_patience_counts_optimizer_steps(windows):
    train, val = windows
    # lr so large that validation never improves after the first steps
    h = Trainer(make_model(), cfg(steps=500, patience=6, lr=5.0, curriculum=False)).fit(train, val)
    assert h.stop_reason == "patience"
    after_best = sum(r["steps"] for r in h.records if r["epoch"] > h.best_epoch)
    assert 6 <= after_best < 6 + max(r["steps"] for r in h.records)


def test_a_zero_initialized_residual_starts_the_hybrid_at_its_physics(windows):
    _, val = windows
    hybrid = make_model(init_scale=0.0).double()
    x = torch.randn(10, 2, dtype=torch.float64)
    u = torch.randn(10, 1, dtype=torch.float64)
    assert torch.equal(hybrid.dynamics.residual_term(x, u), torch.zeros_like(x))
    assert torch.equal(hybrid.dynamics.vector_field(x, u), hybrid.dynamics.physics_term(x, u))
    physics_only = ODEModel(
        HybridDynamics(("x0", "x1"), ("u0",), LinearPhysics(A_PHYS, B), None, Normalizer(2, 1))
    ).double()
    groups = [to_batch(g.t, g.x, g.u, torch.device("cpu"), torch.float64) for g in val]
    assert evaluate_windows(hybrid, groups) == evaluate_windows(physics_only, groups)
    assert MLP().init_scale == 0.0


def test_aphynity_multiplier_grows_and_the_fixed_one_stays(windows):
    train, val = windows
    trainer = Trainer(make_model(), cfg(steps=20))
    h = trainer.fit(train, val)
    lam = [r["train_multiplier"] for r in h.records[1:]]
    assert lam == sorted(lam) and lam[-1] > lam[0] > 1.0
    assert float(trainer.objective.multiplier) > 1.0
    fixed = Trainer(make_model(), cfg(steps=20, multiplier="fixed"))
    hf = fixed.fit(train, val)
    assert float(fixed.objective.multiplier) == 1.0
    assert all("train_multiplier" not in r for r in hf.records)


def test_aphynity_reference_is_per_horizon():
    model = make_model().double()
    objective = Objective(model, cfg(horizon=5))
    parts = {"rollout": torch.tensor(2e-3, dtype=torch.float64)}
    objective.after_step(parts, 3)
    assert float(objective.reference[3]) == 2e-3 and float(objective.multiplier) == 2.0
    objective.after_step({"rollout": torch.tensor(1e-3, dtype=torch.float64)}, 3)
    assert float(objective.multiplier) == pytest.approx(2.5)
    objective.after_step({"rollout": torch.tensor(8e-3, dtype=torch.float64)}, 5)
    assert float(objective.reference[5]) == 8e-3 and float(objective.multiplier) == 3.5
