"""WorldModelEnsemble: batched trajectory samples equal each member's own rollout, predict with
spread and quantiles, recalibration, physics draws, safe save/load, and every input error."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from hybridwm.data import TrajectorySet
from hybridwm.dynamics import PendulumPhysics, reference_dataset
from hybridwm.errors import ConfigError, FormatError, IncompatibleVersionError, NotFittedError
from hybridwm.models.ensemble import EnsemblePrediction, WorldModelEnsemble
from hybridwm.models.stacking import StackedDynamics
from hybridwm.physics import PhysicsModel
from hybridwm.training import TrainConfig

TRUE = PendulumPhysics(w0=3.0, damping=0.3, gain=1.0)
PHYS = PendulumPhysics(w0=3.0, damping=0.0, gain=1.0)  # misses the damping
# two epochs are too few to improve on the start: the "never improved" warning is expected
pytestmark = pytest.mark.filterwarnings("ignore:Training ran:UserWarning")
CFG = TrainConfig(epochs=2, batch_size=64, horizon=8, progress=False, patience=None)


@pytest.fixture(scope="module")
def data() -> TrajectorySet:
    return reference_dataset(TRUE, 6, 30, 0.05, seed=0)


@pytest.fixture(scope="module")
def learned(data) -> WorldModelEnsemble:
    return WorldModelEnsemble("learned", n_members=3, hidden=(8,)).fit(data, CFG)


def inputs(data):
    return np.stack([tr.x[0] for tr in data]), np.stack([tr.u[:-1] for tr in data])


def declared_with_ensemble() -> PhysicsModel:
    """The undamped pendulum as discovered equations with bagged statistics."""
    coef = np.array([[1.0, 0.0, 0.0], [0.0, -9.0, 1.0]])
    stats = {
        "n_models": 5,
        "coef_mean": coef,
        "coef_std": 0.2 * np.abs(coef),
        "inclusion_probability": (coef != 0) * 1.0,
    }
    return PhysicsModel(
        ("theta", "omega"), ("torque",), ["omega", "sin(theta)", "torque"], coef, ensemble=stats
    )


@pytest.mark.parametrize("physics_draws", [False, True])
def test_batched_samples_are_each_members_rollout(data, learned, physics_draws):
    if physics_draws:
        phys = declared_with_ensemble()
        ens = WorldModelEnsemble(
            "hybrid", physics=phys, n_members=3, hidden=(8,), physics_draws=True
        ).fit(data, CFG)
        coefs = [m.physics_.coef_array for m in ens.members_]
        assert not np.allclose(coefs[0], coefs[1])  # the members carry different draws
        assert not ens._stacked.shared_physics
        # one library, one mask: features once for all rows, each member's coefficients batched
        assert ens._stacked.coefficients.shape == (3, 3, 2)
    else:
        ens = learned
    x0, us = inputs(data)
    samples = ens.rollout_samples(x0, us, dt=0.05)
    assert isinstance(ens._stacked, StackedDynamics) and samples.shape == (3, 6, 31, 2)
    for m, member in enumerate(ens.members_):
        np.testing.assert_allclose(samples[m], member.rollout(x0, us, dt=0.05), atol=1e-12)
    torch_out = ens.rollout_samples(torch.as_tensor(x0), torch.as_tensor(us), dt=0.05)
    np.testing.assert_allclose(torch_out.numpy(), samples)
    np.testing.assert_allclose(ens.rollout_samples(x0[0], us[0], dt=0.05), samples[:, 0])
    mean, std = ens.rollout(x0, us, dt=0.05, return_std=True)
    np.testing.assert_allclose(mean, samples.mean(0))
    np.testing.assert_allclose(std, samples.std(0))


def test_gradients_reach_the_actions(learned, data):
    x0, us = inputs(data)
    us_t = torch.as_tensor(us).requires_grad_(True)
    learned.rollout(torch.as_tensor(x0), us_t, dt=0.05).sum().backward()
    assert us_t.grad is not None and torch.isfinite(us_t.grad).all()


def test_predict_mean_spread_quantiles_and_calibration(learned, data, tmp_path):
    mean_only = learned.predict(data)
    assert isinstance(mean_only, TrajectorySet)
    assert mean_only[0].meta["prediction"] == "learned-ensemble"
    pred = learned.predict(data, quantiles=(0.05, 0.5, 0.95))
    assert isinstance(pred, EnsemblePrediction) and pred.samples[0].shape == (3, 31, 2)
    np.testing.assert_allclose(pred.quantiles[0.5][0], pred.mean[0].x)
    np.testing.assert_allclose(
        pred.quantiles[0.95][2] - pred.mean[2].x, 1.6448536 * pred.std[2], rtol=1e-6, atol=1e-12
    )
    cal = WorldModelEnsemble.from_members(learned.members_).calibrate(data, level=0.9)
    after = cal.predict(data, return_std=True)
    assert after.std[0].shape == (31, 2)
    np.testing.assert_allclose(after.std[0], cal.calibration_.apply(pred.std[0]))
    path = cal.save(tmp_path / "ens")
    assert sorted(p.name for p in path.iterdir()) == [
        "ensemble.json",
        "member0",
        "member1",
        "member2",
    ]
    back = WorldModelEnsemble.load(path)
    assert back.columns_ == learned.members_[0].columns_
    x0, us = inputs(data)
    for a, b in zip(
        back.rollout(x0, us, dt=0.05, return_std=True),
        cal.rollout(x0, us, dt=0.05, return_std=True),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(back.calibration_.scale, cal.calibration_.scale)
    np.testing.assert_array_equal(back.calibration_.floor, cal.calibration_.floor)
    # torch in, torch out: the same recalibrated spread (factor and floor per step)
    _, std_t = cal.rollout(torch.as_tensor(x0), torch.as_tensor(us), dt=0.05, return_std=True)
    assert isinstance(std_t, torch.Tensor)
    np.testing.assert_allclose(
        std_t.numpy(), cal.rollout(x0, us, dt=0.05, return_std=True)[1], rtol=1e-12, atol=1e-15
    )


def test_bootstrap_members_see_different_episodes(data):
    ens = WorldModelEnsemble("physics", physics=PHYS, n_members=2, bootstrap=False)
    ens.fit(data, CFG.replace(epochs=1))
    assert len(ens.members_) == 2 and ens.members_[0].config_.seed == 0
    assert ens.members_[1].config_.seed == 1
    x0, us = inputs(data)
    assert ens._stacked.shared_physics  # equal frozen physics: computed once for all rows
    np.testing.assert_allclose(
        ens.rollout_samples(x0, us, dt=0.05)[1],
        ens.members_[1].rollout(x0, us, dt=0.05),
        atol=1e-12,
    )


def test_members_trained_in_worker_processes_equal_the_serial_ones(data):
    # resamples and draws are made in this process first: the same members either way
    kw = {"physics": declared_with_ensemble(), "n_members": 3, "physics_draws": True}
    serial = WorldModelEnsemble("hybrid", hidden=(8,), **kw).fit(data, CFG)
    parallel = WorldModelEnsemble("hybrid", hidden=(8,), **kw)  # one bar here, none in workers
    parallel.fit(data, CFG.replace(progress=True), workers=2)
    for a, b in zip(serial.members_, parallel.members_, strict=True):
        assert a.config_.seed == b.config_.seed
        sa, sb = a.model_.state_dict(), b.model_.state_dict()
        assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    x0, us = inputs(data)
    np.testing.assert_array_equal(
        serial.rollout_samples(x0, us, dt=0.05), parallel.rollout_samples(x0, us, dt=0.05)
    )


def test_errors_teach_the_fix(learned, data, tmp_path):
    with pytest.raises(ConfigError, match="`n_members` must be an integer >= 2"):
        WorldModelEnsemble("learned", n_members=1).fit(data, CFG)
    with pytest.raises(ConfigError, match="`workers` must be an integer >= 1"):
        WorldModelEnsemble("learned", n_members=2).fit(data, CFG, workers=0)
    with pytest.raises(ConfigError, match="`physics_draws=True` needs discovered physics"):
        WorldModelEnsemble("hybrid", physics=PHYS, physics_draws=True).fit(data, CFG)
    with pytest.raises(NotFittedError, match="not fitted yet"):
        WorldModelEnsemble("learned").rollout(np.zeros((1, 2)), np.zeros((1, 3, 1)), dt=0.1)
    with pytest.raises(ConfigError, match="`quantiles` must be numbers in"):
        learned.predict(data, quantiles=(0.0, 0.5))
    with pytest.raises(ConfigError, match="at least 2 HybridDynamics"):
        StackedDynamics([learned.members_[0].model_.dynamics])
    with pytest.raises(NotFittedError, match="Member 1 is not fitted"):
        WorldModelEnsemble.from_members([learned.members_[0], WorldModelEnsemble("learned")])
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "file.txt").write_text("x")
    with pytest.raises(FormatError, match="Refusing to overwrite"):
        learned.save(tmp_path / "other")
    with pytest.raises(FormatError, match=r"no ensemble\.json"):
        WorldModelEnsemble.load(tmp_path / "other")
    path = learned.save(tmp_path / "ens")
    doc = json.loads((path / "ensemble.json").read_text())
    (path / "ensemble.json").write_text(json.dumps({**doc, "format_version": 99}))
    with pytest.raises(IncompatibleVersionError, match="has format version 99"):
        WorldModelEnsemble.load(path)
    bad = {**doc, "calibration": {"level": 0.9, "starts": [1], "scale": [[1.0, 1.0, 1.0]]}}
    (path / "ensemble.json").write_text(json.dumps(bad))
    with pytest.raises(FormatError, match="factors for 3 states but the members observe 2"):
        WorldModelEnsemble.load(path)
    (path / "ensemble.json").write_text(json.dumps({**doc, "n_members": 4}))
    with pytest.raises(FormatError):
        WorldModelEnsemble.load(path)  # member3 is missing


def test_irregular_time_grids_predict_like_the_members(learned, data):
    rng = np.random.default_rng(3)
    inner = [rng.uniform(-0.01, 0.01, len(tr.t) - 2) for tr in data]
    jitter = TrajectorySet(
        [tr.replace(t=tr.t + np.r_[0.0, j, 0.0]) for tr, j in zip(data, inner, strict=True)]
    )
    assert not jitter[0].is_uniform
    pred = learned.predict(jitter, return_std=True)
    for m, member in enumerate(learned.members_):
        own = member.predict(jitter)
        for e in range(len(jitter)):
            np.testing.assert_allclose(pred.samples[e][m], own[e].x, atol=1e-10)
