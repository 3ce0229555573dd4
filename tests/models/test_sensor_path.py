"""The sensor-log path of WorldModel: angles, divergence, priors with hidden states and
observation equations, bounds, initial-state estimation, multiple shooting, jittered grids."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from hybridwm.data import Trajectory, TrajectorySet
from hybridwm.dynamics import LinearPhysics, PendulumPhysics, reference_dataset
from hybridwm.errors import ConfigError, DataError, TrainingError
from hybridwm.models import MLP, WorldModel
from hybridwm.physics import declare
from hybridwm.training import TrainConfig
from hybridwm.training.losses import Batch, MultipleShooting

TRUE = PendulumPhysics(w0=3.0, damping=0.3, gain=1.0)


def cfg(**kw) -> TrainConfig:
    base = dict(epochs=3, batch_size=64, horizon=8, progress=False, patience=None)
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def data() -> TrajectorySet:
    return reference_dataset(TRUE, 6, 40, 0.05, seed=0)


@pytest.fixture(scope="module")
def angle_only(data) -> TrajectorySet:
    return TrajectorySet(
        Trajectory(tr.t, tr.x[:, :1], tr.u, ("theta",), tr.action_names) for tr in data
    )


def pendulum_prior(**kw):
    params = {"w0": {"value": 2.5, "bounds": [0.5, 10.0]}, "c": 0.3, "b": 1.0}
    params.update(kw)
    return declare(
        ["d(theta) = omega", "d(omega) = -w0**2*sin(theta) - c*omega + b*torque"],
        params,
        action_names=["torque"],
    )


def test_angles_inferred_saved_and_loaded(data, tmp_path):
    wm = WorldModel.learned(hidden=(8,)).fit(data, cfg(epochs=1))
    assert wm.angles_ == ("theta",)
    assert wm.model_.residual if False else wm.model_.dynamics.residual.n_in == 2 + 1 + 1
    wm.save(tmp_path / "m")
    back = WorldModel.load(tmp_path / "m")
    assert back.angles_ == ("theta",)
    np.testing.assert_allclose(back.predict(data)[0].x, wm.predict(data)[0].x)
    off = WorldModel.learned(hidden=(8,), angles=()).fit(data, cfg(epochs=1))
    assert off.angles_ == () and off.model_.dynamics.residual.n_in == 3
    with pytest.raises(ConfigError, match=r"`angles` names \['phi'\]"):
        WorldModel.learned(hidden=(8,), angles=["phi"]).fit(data, cfg(epochs=1))
    with pytest.raises(ConfigError, match="angles=\\['theta'\\]"):
        WorldModel.learned(hidden=(8,), angles="theta").fit(data, cfg(epochs=1))


def test_on_diverge_nan_keeps_and_counts_diverged_episodes(data):
    unstable = LinearPhysics(
        np.array([[1e4, 0], [0, 1e4]]), np.zeros((2, 1)), ("theta", "omega"), ("torque",)
    )
    wm = WorldModel.physics(unstable).fit(data, cfg())
    with pytest.raises(DataError, match=r"diverged.*on_diverge='nan'"):
        wm.predict(data)
    with pytest.warns(UserWarning, match=r"6 of 6 episodes\s+diverged"):
        pred = wm.predict(data, on_diverge="nan")
    assert all(tr.meta["diverged"] for tr in pred)
    assert not np.isfinite(pred[0].x).all()
    with pytest.raises(ConfigError, match="on_diverge"):
        wm.predict(data, on_diverge="ignore")


def test_bounds_warning_and_fixed_parameters(data):
    prior = pendulum_prior(w0={"value": 1.5, "bounds": [0.5, 2.0]}, b={"value": 1.0, "fixed": True})
    wm = WorldModel.physics(prior, trainable=True)
    with pytest.warns(UserWarning, match="'w0' = .* ended at its upper bound 2"):
        wm.fit(data, cfg(epochs=40, physics_lr=0.3, batch_size=16, validation_fraction=0.0))
    vals = wm.model_.dynamics.physics.parameter_values()
    assert vals["b"] == 1.0  # fixed: never trained
    assert 0.5 <= vals["w0"] <= 2.0


def test_hidden_velocity_from_prior_encoder_and_optimize(angle_only):
    wm = WorldModel.physics(pendulum_prior(), trainable=True, encoder_window=3, init_window=8)
    wm.fit(angle_only, cfg(epochs=4, lr=0.02))
    assert wm.model_.hidden_names == ("omega",)
    enc = wm.predict(angle_only)
    opt = wm.predict(angle_only, init="optimize")
    assert enc.state_names == ("theta",)
    for a, b in zip(enc, opt, strict=True):
        assert np.isfinite(a.x).all() and np.isfinite(b.x).all()

    def err(pred: TrajectorySet) -> float:
        return float(
            np.mean([(q.x[:8] - tr.x[:8]) ** 2 for q, tr in zip(pred, angle_only, strict=True)])
        )

    # optimizing the start on the first samples fits them at least as well as the encoder
    assert err(opt) <= err(enc) * 1.0001


def test_observation_offset_is_recovered(tmp_path):
    """y = h + offset with h unmeasured; the offset is learned with the dynamics' parameter."""
    a = 2.0
    truth = LinearPhysics(np.array([[-a]]), np.array([[a]]), ("h",), ("pump",))
    sim = reference_dataset(truth, 8, 60, 0.05, x_scale=1.0, u_scale=1.0, hold=15, seed=3)
    obs = TrajectorySet(Trajectory(tr.t, tr.x + 0.5, tr.u, ("h_meas",), ("pump",)) for tr in sim)
    prior = declare(
        ["d(h) = -a*(h - pump)"],
        {"a": {"value": a, "fixed": True}, "offset": 0.0},
        action_names=["pump"],
        observations={"h_meas": "h + offset"},
    )
    wm = WorldModel.physics(prior, trainable=True, encoder_window=2, encoder=MLP((16,)))
    wm.fit(obs, cfg(epochs=60, lr=0.03, horizon=20, validation_fraction=0.0))
    assert wm.model_.hidden_names == ("h",) and wm.model_.equation_names == ("h_meas",)
    offset = wm.model_.dynamics.physics.parameter_values()["offset"]
    assert offset == pytest.approx(0.5, abs=0.05)
    back = WorldModel.load(wm.save(tmp_path / "obs"))
    assert back.physics_model.observation_names == ("h_meas",)
    np.testing.assert_allclose(back.predict(obs)[1].x, wm.predict(obs)[1].x, rtol=1e-12)


def test_multiple_shooting_continuity(angle_only):
    wm = WorldModel.physics(pendulum_prior(), trainable=True, encoder_window=3)
    wm.fit(angle_only, cfg(epochs=6, lr=0.02, shooting="multiple", curriculum=False))
    hist = wm.history_
    cont = [r["train_continuity"] for r in hist.records if "train_continuity" in r]
    roll = [r["train_rollout"] for r in hist.records if "train_rollout" in r]
    # 6 epochs, one of them cut where the encoder-first phase (30 % of the steps) ends
    encoder = [r["steps"] for r in hist.records if r.get("phase") == "encoder"]
    assert sum(encoder) == round(0.3 * hist.steps) and encoder
    assert len(cont) == 7 and np.isfinite(cont).all() and roll[-1] < roll[0]
    assert "train_encoder" in hist.records[-1]
    assert all(np.isfinite(tr.x).all() for tr in wm.predict(angle_only))
    # exact: starts equal to the predicted hidden states give zero gap
    model = wm.model_
    ms = MultipleShooting(model, 10)
    t = torch.arange(4, dtype=torch.float64) * 0.05
    x0 = torch.tensor([[0.2, 0.5]], dtype=torch.float64)
    us = torch.zeros(1, 3, 1, dtype=torch.float64)
    xs = model.simulate(x0, us, t).detach()
    with torch.no_grad():
        ms.starts[2:6, 0] = (xs[0, :, 1] - ms.mean) / ms.scale
    b = Batch(
        t,
        xs[:, :, :1],
        torch.zeros(1, 4, 1, dtype=torch.float64),
        torch.tensor([2]),
        torch.tensor([9]),
    )
    assert float(ms.continuity(b, xs).detach()) == pytest.approx(0.0, abs=1e-20)
    b_end = Batch(b.t, b.x, b.u, torch.tensor([2]), torch.tensor([3]))  # episode ends after 1 step
    with torch.no_grad():
        ms.starts[4:6] += 1.0
    assert float(ms.continuity(b_end, xs).detach()) == pytest.approx(0.0, abs=1e-20)


def test_jittered_grid_fit_and_predict(data):
    rng = np.random.default_rng(0)
    field_data = []
    for tr in data:
        t = np.concatenate([[0.0], np.cumsum(0.05 * rng.uniform(0.8, 1.2, len(tr) - 1))])
        field_data.append(tr.replace(t=t))
    jit = TrajectorySet(field_data)
    wm = WorldModel.hybrid(pendulum_prior(), residual=MLP((8,))).fit(jit, cfg(epochs=1))
    pred = wm.predict(jit)
    assert [len(p) for p in pred] == [len(tr) for tr in jit]
    np.testing.assert_array_equal(pred[2].t, jit[2].t)


def test_constant_column_warns(data):
    const = TrajectorySet(tr.replace(u=np.zeros_like(tr.u)) for tr in data)
    with pytest.warns(UserWarning, match="action column 'torque' is constant"):
        WorldModel.learned(hidden=(8,)).fit(const, cfg(epochs=1))


def test_short_episode_error_names_it(data):
    short = TrajectorySet([*data, data[0].slice(0, 5).replace(meta={"episode": "run9"})])
    with pytest.raises(DataError, match=r"episode 'run9' .* has only 5 samples.*horizon <= 4"):
        WorldModel.learned(hidden=(8,)).fit(short, cfg(validation_fraction=0.0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")


@pytest.mark.filterwarnings("ignore:Training ran")
def test_multiple_shooting_resume_equals_an_uninterrupted_run(angle_only, tmp_path):
    from hybridwm.training.checkpoint import load_checkpoint

    def run(epochs: int, out: str, resume: str | None = None) -> dict:
        wm = WorldModel.physics(pendulum_prior(), trainable=True, encoder_window=3)
        c = cfg(epochs=epochs, lr=0.02, shooting="multiple", curriculum=False, pinn_weight=0.0)
        c = c.replace(lr_schedule="plateau")  # a schedule that does not depend on `epochs`
        c = c.replace(encoder_first=0.0)  # nor a phase whose end is a fraction of them
        c = c.replace(checkpoint_dir=str(tmp_path / out), checkpoint_every=1, resume_from=resume)
        wm.fit(angle_only, c)
        return load_checkpoint(tmp_path / out / "last.pt")

    straight = run(4, "straight")
    first = run(2, "first")
    assert first["objective"]["shooting.starts"].abs().sum() > 0  # the starts are saved
    resumed = run(4, "resumed", resume=str(tmp_path / "first" / "last.pt"))
    torch.testing.assert_close(
        resumed["objective"]["shooting.starts"], straight["objective"]["shooting.starts"]
    )
    for k, v in straight["model"].items():
        torch.testing.assert_close(resumed["model"][k], v)
    # resuming on other data (other sample positions) is refused, naming both shapes
    wm = WorldModel.physics(pendulum_prior(), trainable=True, encoder_window=3)
    c = cfg(epochs=3, shooting="multiple", resume_from=str(tmp_path / "first" / "last.pt"))
    with pytest.raises(
        TrainingError, match=r"starts of shape \(\d+, 1\), but this run has \(\d+, 1\)"
    ):
        wm.fit(TrajectorySet(list(angle_only)[:3]), c)
