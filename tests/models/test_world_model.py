"""WorldModel facade: fit/rollout/predict for every kind, save/load, and every input error."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from hybridwm.data import Trajectory, TrajectorySet
from hybridwm.dynamics import LinearPhysics, PendulumPhysics, reference_dataset
from hybridwm.errors import (
    ConfigError,
    DataError,
    FormatError,
    IncompatibleVersionError,
    NotFittedError,
    ShapeError,
    UnknownNameError,
)
from hybridwm.metrics import nrmse_trajectories
from hybridwm.models import MLP, WorldModel
from hybridwm.training import TrainConfig

TRUE = PendulumPhysics(w0=3.0, damping=0.3, gain=1.0)
PHYS = PendulumPhysics(w0=3.0, damping=0.0, gain=1.0)  # misses the damping


def cfg(**kw) -> TrainConfig:
    base = dict(epochs=3, batch_size=64, horizon=8, progress=False, patience=None)
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def data() -> TrajectorySet:
    return reference_dataset(TRUE, 6, 40, 0.05, seed=0)


@pytest.fixture(scope="module")
def hybrid(data) -> WorldModel:
    return WorldModel.hybrid(PHYS, residual=MLP((16,))).fit(data, cfg())


def test_rollout_shapes_and_types(hybrid, data):
    x0 = np.stack([tr.x[0] for tr in data])
    us = np.stack([tr.u[:-1] for tr in data])
    t = data[0].t.copy()
    out = hybrid.rollout(x0, us, t)
    assert isinstance(out, np.ndarray) and out.shape == (6, 41, 2)
    np.testing.assert_array_equal(out[:, 0], x0)
    out_t = hybrid.rollout(torch.as_tensor(x0), torch.as_tensor(us), torch.as_tensor(t))
    assert isinstance(out_t, torch.Tensor)
    np.testing.assert_allclose(out_t.numpy(), out)
    single = hybrid.rollout(x0[0], us[0], t)
    np.testing.assert_allclose(single, out[0])
    np.testing.assert_allclose(hybrid.rollout(x0, us, dt=0.05), out, atol=1e-12)
    step = hybrid.step(x0, us[:, 0], 0.05)
    np.testing.assert_allclose(step, out[:, 1], atol=1e-12)


def test_predict_matches_data_grid_and_improves_on_physics(hybrid, data):
    pred = hybrid.predict(data)
    assert len(pred) == len(data)
    for p, tr in zip(pred, data, strict=False):
        np.testing.assert_array_equal(p.t, tr.t)
        np.testing.assert_array_equal(p.u, tr.u)
        assert p.meta["prediction"] == "hybrid"
    phys = WorldModel.physics(PHYS).fit(data, cfg())
    assert phys.history_.stop_reason == "nothing to train"
    assert nrmse_trajectories(pred, data) < nrmse_trajectories(phys.predict(data), data)


def test_predict_nonuniform_grids(hybrid):
    r = np.random.default_rng(1)
    trajs = []
    for _i in range(3):
        t = np.concatenate([[0.0], np.cumsum(r.uniform(0.02, 0.06, 20))])
        trajs.append(
            Trajectory(
                t, r.normal(size=(21, 2)), r.normal(size=(21, 1)), ("theta", "omega"), ("torque",)
            )
        )
    pred = hybrid.predict(TrajectorySet(trajs))
    for p, tr in zip(pred, trajs, strict=False):
        np.testing.assert_allclose(
            p.x, hybrid.rollout(tr.x[0], tr.u[:-1], tr.t - tr.t[0]), atol=1e-12
        )


def test_learned_and_physics_kinds(data):
    learned = WorldModel.learned(hidden=(16,)).fit(data, cfg())
    assert learned.model_.dynamics.physics is None
    assert learned.predict(data[:2])[0].x.shape == data[0].x.shape
    with pytest.raises(ConfigError, match="has no parameters"):
        WorldModel.physics(PHYS, trainable=True).fit(data, cfg())
    start = PendulumPhysics(w0=3.0, damping=0.0, gain=1.0, trainable=True)
    trainable = WorldModel.physics(start, trainable=True).fit(data, cfg(epochs=5, lr=0.05))
    damping = float(trainable.model_.dynamics.physics.damping.detach())
    assert damping > 0.05  # it learns some of the missing damping


def test_save_load_identical_predictions(hybrid, data, tmp_path):
    path = hybrid.save(tmp_path / "run")
    assert {p.name for p in path.iterdir()} >= {
        "config.json",
        "weights.safetensors",
        "history.json",
    }
    cfgj = json.loads((path / "config.json").read_text())
    assert cfgj["kind"] == "hybrid" and cfgj["physics"] == "custom" and cfgj["format_version"] == 1
    with pytest.raises(FormatError, match=r"custom physics module.*physics=module"):
        WorldModel.load(path)
    loaded = WorldModel.load(path, physics=PHYS)
    a, b = hybrid.predict(data), loaded.predict(data)
    for p, q in zip(a, b, strict=False):
        np.testing.assert_array_equal(p.x, q.x)
    hybrid.save(path)  # overwriting a model directory is fine
    assert WorldModel.load(path, physics=PHYS).history_.stop_reason == hybrid.history_.stop_reason


def test_save_load_with_physics_model(data, tmp_path):
    physics = pytest.importorskip("hybridwm.physics")
    pm = physics.discover(data)
    model = WorldModel.hybrid(pm, residual=MLP((8,)), trainable_physics=True).fit(
        data, cfg(epochs=1)
    )
    model.save(tmp_path / "m")
    assert (tmp_path / "m" / "physics.json").is_file()
    loaded = WorldModel.load(tmp_path / "m")
    np.testing.assert_array_equal(model.predict(data)[0].x, loaded.predict(data)[0].x)


def test_same_seed_same_weights(data):
    a = WorldModel.hybrid(PHYS, residual=MLP((8,))).fit(data, cfg(epochs=1, seed=4))
    b = WorldModel.hybrid(PHYS, residual=MLP((8,))).fit(data, cfg(epochs=1, seed=4))
    sa, sb = a.model_.state_dict(), b.model_.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_latent_hidden_velocity_trains(data):
    obs = TrajectorySet(Trajectory(tr.t, tr.x[:, :1], tr.u, ("theta",), ("torque",)) for tr in data)
    model = WorldModel.hybrid(PHYS, residual=MLP((16,)), encoder_window=3)
    model.fit(obs, cfg(epochs=6, lr=1e-2, validation_fraction=0.2))
    assert model.model_.encoder is not None
    assert model.state_names_ == ("theta", "omega") and model.observed_names_ == ("theta",)
    vals = [v for v in model.history_["val_nrmse"] if v is not None]
    assert model.history_.best_score < 0.7 * vals[0]
    pred = model.predict(obs)
    assert pred.state_names == ("theta",) and pred[0].x.shape == obs[0].x.shape
    full = model.rollout(np.zeros((1, 2)), np.zeros((1, 5, 1)), dt=0.05, full_state=True)
    assert full.shape == (1, 6, 2)


def test_latent_dim_adds_free_coordinates(data):
    model = WorldModel.learned(hidden=(8,), latent_dim=2, encoder_window=2).fit(data, cfg(epochs=1))
    assert model.state_names_ == ("theta", "omega", "z0", "z1")
    assert model.predict(data)[0].x.shape == data[0].x.shape


# ---------------------------------------------------------------------- errors
def test_rollout_before_fit():
    with pytest.raises(NotFittedError, match=r"not fitted yet; call .fit\(data\) before .rollout"):
        WorldModel.learned().rollout(np.zeros((1, 2)), np.zeros((1, 3, 1)), dt=0.1)


def test_dimension_mismatch_states_both(hybrid):
    with pytest.raises(
        ShapeError, match=r"\(batch, 2\) for states \['theta', 'omega'\]; got shape \(4, 3\)"
    ):
        hybrid.rollout(np.zeros((4, 3)), np.zeros((4, 5, 1)), dt=0.1)
    with pytest.raises(
        ShapeError, match=r"\(4, T, 1\) for actions \['torque'\]; got shape \(4, 5, 2\)"
    ):
        hybrid.rollout(np.zeros((4, 2)), np.zeros((4, 5, 2)), dt=0.1)


def test_physics_names_differ_from_data(data):
    phys = LinearPhysics(np.eye(2), np.ones((2, 1)), ("x", "v"), ("force",))
    with pytest.raises(
        ShapeError, match=r"states \['x', 'v'\].*\['force'\].*data have states \['theta', 'omega'\]"
    ):
        WorldModel.hybrid(phys).fit(data, cfg())


def test_horizon_longer_than_shortest_episode(data):
    with pytest.raises(DataError, match=r"horizon=50 needs 51 samples.*only 41 samples"):
        WorldModel.learned().fit(data, cfg(horizon=50))


def test_unknown_solver_lists_valid(data, hybrid):
    with pytest.raises(UnknownNameError, match=r"Unknown solver 'rk45'.*Valid names: .*'rk4'"):
        WorldModel.learned(solver="rk45").fit(data, cfg())
    with pytest.raises(UnknownNameError, match="Valid names"):
        hybrid.rollout(np.zeros((1, 2)), np.zeros((1, 3, 1)), dt=0.1, solver="nope")


def test_bad_dt_t_and_nan(hybrid):
    x0, us = np.zeros((1, 2)), np.zeros((1, 3, 1))
    with pytest.raises(ConfigError, match=r"`dt` must be > 0. Got -0.1 instead"):
        hybrid.rollout(x0, us, dt=-0.1)
    with pytest.raises(ConfigError, match=r"`dt` must be a number > 0. Got 0"):
        hybrid.step(x0, us[:, 0], 0)
    with pytest.raises(DataError, match=r"strictly increasing; t\[2\] = 0.1 follows t\[1\] = 0.2"):
        hybrid.rollout(x0, us, np.array([0.0, 0.2, 0.1, 0.3]))
    with pytest.raises(DataError, match="`x0` holds NaN or inf"):
        hybrid.rollout(np.array([[np.nan, 0.0]]), us, dt=0.1)
    bad = us.copy()
    bad[0, 1, 0] = np.inf
    with pytest.raises(DataError, match=r"`us` holds NaN or inf \(first at index \(0, 1, 0\)\)"):
        hybrid.rollout(x0, bad, dt=0.1)


def test_load_errors(tmp_path, hybrid):
    with pytest.raises(FormatError, match="not a hybridwm model directory"):
        WorldModel.load(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(FormatError, match=r"expected 'hybridwm.worldmodel'"):
        WorldModel.load(tmp_path)
    path = hybrid.save(tmp_path / "m")
    cfgj = json.loads((path / "config.json").read_text())
    cfgj["format_version"] = 99
    (path / "config.json").write_text(json.dumps(cfgj))
    with pytest.raises(
        IncompatibleVersionError, match="format version 99; this hybridwm reads version 1"
    ):
        WorldModel.load(path, physics=PHYS)
    with pytest.raises(FormatError, match="Refusing to overwrite"):
        hybrid.save(tmp_path / "m" / "config.json")


def test_constructor_only_stores_arguments():
    model = WorldModel.hybrid(None)
    with pytest.raises(ConfigError, match="needs `physics`"):
        model.check_params()
    assert not hasattr(model, "model_")


def test_float32_training_and_rollout(data):
    model = WorldModel.hybrid(PHYS, residual=MLP((8,))).fit(data, cfg(epochs=1, dtype="float32"))
    out = model.rollout(np.zeros((2, 2)), np.zeros((2, 10, 1)), dt=0.05)
    assert out.dtype == np.float32 and np.isfinite(out).all()
    ref = (
        WorldModel.physics(PHYS)
        .fit(data, cfg())
        .rollout(np.zeros((2, 2)), np.zeros((2, 10, 1)), dt=0.05)
    )
    np.testing.assert_allclose(out, ref, atol=1e-2)  # the residual is small after 1 epoch


def test_warns_when_training_never_beats_the_initial_weights(data):
    model = WorldModel.learned(hidden=(8,))
    with pytest.warns(UserWarning, match="never improved the validation error of the initial"):
        model.fit(data, cfg(epochs=2, lr=1e-300, lr_schedule="constant", validation_fraction=0.34))
    assert model.history_.best_epoch == 0


def test_declared_prior_parameters_train_by_default_discovered_ones_do_not():
    from hybridwm.physics import declare

    prior = declare(
        ["d(theta) = omega", "d(omega) = -w0**2*sin(theta) + torque"],
        parameters={"w0": 2.0},
        state_names=("theta", "omega"),
        action_names=("torque",),
    )
    assert WorldModel.hybrid(physics=prior).trainable_physics is True
    assert WorldModel.physics(prior).trainable_physics is True
    assert WorldModel.hybrid(physics=prior, trainable_physics=False).trainable_physics is False
    fixed = declare(
        ["d(theta) = omega", "d(omega) = -w0**2*sin(theta) + torque"],
        parameters={"w0": 2.0},
        fixed=("w0",),
        state_names=("theta", "omega"),
        action_names=("torque",),
    )
    assert WorldModel.hybrid(physics=fixed).trainable_physics is False
    assert WorldModel.hybrid(physics=PHYS).trainable_physics is False
