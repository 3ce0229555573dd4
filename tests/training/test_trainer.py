"""Trainer and losses on tiny exact problems: convergence, seeding, NaN stops, checkpoints."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import torch
from torch import nn
from torch.optim.optimizer import register_optimizer_step_post_hook

from hybridwm.data import Trajectory, TrajectorySet
from hybridwm.data.windows import make_windows
from hybridwm.dynamics import (
    MLP,
    Encoder,
    HybridDynamics,
    LinearPhysics,
    Normalizer,
    ODEModel,
    reference_dataset,
)
from hybridwm.errors import ConfigError, FormatError, TrainingError
from hybridwm.training import (
    PHYSICS_LR,
    MultipleShooting,
    Objective,
    PinnLoss,
    TrainConfig,
    Trainer,
    load_checkpoint,
    save_checkpoint,
    to_batch,
)

A_TRUE = np.array([[0.0, 1.0], [-4.0, -0.5]])
A_PHYS = np.array([[0.0, 1.0], [-4.0, 0.0]])  # misses the damping
B = np.array([[0.0], [1.0]])


@pytest.fixture(scope="module")
def data():
    return reference_dataset(LinearPhysics(A_TRUE, B), 6, 30, 0.05, seed=0)


class NaNAfter(nn.Module):
    """Linear physics that starts returning NaN after ``n`` training-time calls."""

    def __init__(self, n: int, exc: type[BaseException] | None = None) -> None:
        super().__init__()
        self.inner = LinearPhysics(A_PHYS, B)
        self.state_names, self.action_names = self.inner.state_names, self.inner.action_names
        self.n, self.calls, self.exc = n, 0, exc

    def forward(self, x, u):
        if self.training:
            self.calls += 1
        out = self.inner(x, u)
        if self.calls > self.n:
            if self.exc is not None:
                raise self.exc()
            return out * float("nan")
        return out


def make_model(physics: nn.Module | None = None, seed: int = 0) -> ODEModel:
    torch.manual_seed(seed)
    phys = physics if physics is not None else LinearPhysics(A_PHYS, B)
    norm = Normalizer(2, 1).set(x_min=[-1.5, -3.0], x_max=[1.5, 3.0], dx_scale=[2.0, 5.0])
    dyn = HybridDynamics(("x0", "x1"), ("u0",), phys, MLP((16,), init_scale=0.1).build(3, 2), norm)
    return ODEModel(dyn).double()


def cfg(**kw) -> TrainConfig:
    base = dict(epochs=4, batch_size=32, horizon=5, lr=1e-2, progress=False, patience=None)
    base.update(kw)
    return TrainConfig(**base)


def test_objective_returns_value_and_named_parts(data):
    model = make_model()
    g = make_windows(data, 5).groups[0]
    b = to_batch(g.t, g.x, g.u, torch.device("cpu"), torch.float64)
    value, parts = Objective(model, cfg())(model, b, 5)
    # "multiplier": APHYNITY's trajectory multiplier λ (the default multiplier="adaptive")
    assert set(parts) == {"rollout", "residual", "pinn", "multiplier", "total"}
    assert torch.equal(value, parts["total"])
    c = cfg()
    expected = c.rollout_weight * parts["rollout"] + c.residual_weight * parts["residual"]
    assert torch.allclose(value, expected + c.pinn_weight * parts["pinn"])
    _, parts0 = Objective(model, cfg(pinn_weight=0.0, residual_weight=0.0))(model, b, 5)
    assert set(parts0) == {"rollout", "total"}


def test_training_lowers_validation_error(data):
    model = make_model()
    history = Trainer(model, cfg(epochs=8)).fit(
        make_windows(data[:5], 5), make_windows(data[5:], 30)
    )
    vals = [v for v in history["val_nrmse"] if v is not None]
    assert history.best_score < 0.5 * vals[0]
    assert history.stop_reason == "epochs" and len(history) == 9
    assert {"train_rollout", "train_pinn", "train_residual", "lr", "time"} <= set(
        history.records[-1]
    )


def test_same_seed_gives_identical_weights(data):
    w = make_windows(data, 5)
    states = []
    for _ in range(2):
        model = make_model(seed=3)
        Trainer(model, cfg(epochs=2, seed=5)).fit(w)
        states.append(model.state_dict())
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


def test_physics_lr_scales_the_physics_steps_only(data):
    """Adam's first step moves each tensor by its group's lr: physics_lr for the physics."""
    steps = {}
    for physics_lr in (None, 0.1):
        phys = LinearPhysics(A_PHYS, B, trainable=True)
        model = make_model(phys, seed=3)
        before = {k: v.clone() for k, v in model.state_dict().items()}
        config = cfg(
            epochs=1,
            batch_size=1024,
            lr=1e-3,
            lr_schedule="constant",
            curriculum=False,
            physics_lr=physics_lr,
        )
        Trainer(model, config).fit(make_windows(data, 5))
        after = model.state_dict()
        steps[physics_lr] = {
            k: float((after[k] - before[k]).abs().max())
            for k in ("dynamics.physics.A", "dynamics.residual.net.0.weight")
        }
    assert steps[None]["dynamics.physics.A"] == pytest.approx(PHYSICS_LR, rel=1e-3)  # its default
    assert steps[0.1]["dynamics.physics.A"] == pytest.approx(0.1, rel=1e-3)
    assert steps[0.1]["dynamics.residual.net.0.weight"] == pytest.approx(1e-3, rel=1e-3)


def test_nan_mid_training_stops_with_best_checkpoint(data, tmp_path):
    model = make_model(NaNAfter(300))
    c = cfg(epochs=50, checkpoint_dir=str(tmp_path))
    with pytest.raises(
        TrainingError, match=r"became nan.*best weights \(epoch \d+.*Try a lower `lr`"
    ):
        Trainer(model, c).fit(make_windows(data[:5], 5), make_windows(data[5:], 30))
    payload = load_checkpoint(tmp_path / "best.pt")
    assert all(torch.isfinite(v).all() for v in payload["model"].values())
    assert payload["best_epoch"] >= 1
    saved = json.loads((tmp_path / "history.json").read_text())
    assert saved["stop_reason"] == "nonfinite" and saved["best_epoch"] == payload["best_epoch"]
    # the model itself holds those best weights again
    for k, v in model.state_dict().items():
        assert torch.equal(v, payload["model"][k])


def test_keyboard_interrupt_keeps_last_good_checkpoint(data, tmp_path):
    model = make_model(NaNAfter(300, exc=KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        Trainer(model, cfg(epochs=50, checkpoint_dir=str(tmp_path))).fit(make_windows(data, 5))
    payload = load_checkpoint(tmp_path / "best.pt")
    assert all(torch.isfinite(v).all() for v in payload["model"].values())


def test_resume_from_checkpoint(data, tmp_path):
    w = make_windows(data, 5)
    model = make_model()
    Trainer(model, cfg(epochs=2, checkpoint_dir=str(tmp_path), checkpoint_every=1)).fit(w)
    resumed = make_model(seed=9)
    h = Trainer(resumed, cfg(epochs=4, resume_from=str(tmp_path / "last.pt"))).fit(w)
    assert [r["epoch"] for r in h.records] == [0, 1, 2, 3, 4]


def hidden_velocity_model(seed: int = 0) -> ODEModel:
    """The linear hybrid with only ``x0`` measured: ``x1`` is hidden (encoder, shooting)."""
    torch.manual_seed(seed)
    norm = Normalizer(2, 1).set(x_min=[-1.5, -3.0], x_max=[1.5, 3.0], dx_scale=[2.0, 5.0])
    mlp = MLP((8,), init_scale=0.1).build(3, 2)
    dyn = HybridDynamics(("x0", "x1"), ("u0",), LinearPhysics(A_PHYS, B), mlp, norm)
    return ODEModel(dyn, ("x0",), Encoder(1, 1, 1, window=2, hidden=(8,))).double()


def test_resume_continues_exactly_like_an_uninterrupted_run(data, tmp_path):
    """Plateau schedule, validation and multiple-shooting starts all come back from last.pt."""
    measured = TrajectorySet(
        Trajectory(tr.t, tr.x[:, :1], tr.u, ("x0",), tr.action_names) for tr in data
    )
    train, val = make_windows(measured[:5], 5), make_windows(measured[5:], 29)

    def run(epochs: int, out: str, resume: str | None = None) -> ODEModel:
        model = hidden_velocity_model()
        c = cfg(
            epochs=epochs,
            lr=0.3,
            lr_schedule="plateau",  # like the horizon below, independent of `epochs`
            curriculum=False,
            shooting="multiple",
            pinn_weight=0.0,  # the collocation draws are not part of a checkpoint
            encoder_first=0.0,  # its end is a fraction of the budget, which differs here
            checkpoint_dir=str(tmp_path / out),
            checkpoint_every=1,
            resume_from=resume,
        )
        trainer = Trainer(model, c)
        trainer.fit(train, val)
        assert isinstance(trainer.objective.shooting, MultipleShooting)
        return model

    straight = run(12, "straight")
    lrs = [r["lr"] for r in load_checkpoint(tmp_path / "straight" / "last.pt")["history"][1:]]
    assert min(lrs) < max(lrs)  # the plateau schedule lowered the rate on the way
    run(6, "first")
    first = load_checkpoint(tmp_path / "first" / "last.pt")
    assert first["objective"]["shooting.starts"].abs().sum() > 0
    resumed = run(12, "resumed", resume=str(tmp_path / "first" / "last.pt"))
    for k, v in straight.state_dict().items():
        assert torch.equal(resumed.state_dict()[k], v), k
    a, b = (load_checkpoint(tmp_path / d / "last.pt") for d in ("straight", "resumed"))
    assert torch.equal(a["objective"]["shooting.starts"], b["objective"]["shooting.starts"])
    assert a["schedule"] == b["schedule"]
    assert [r["lr"] for r in a["history"]] == [r["lr"] for r in b["history"]]


def test_checkpoint_of_another_version_is_refused(data, tmp_path):
    w = make_windows(data, 5)
    Trainer(make_model(), cfg(epochs=1, checkpoint_dir=str(tmp_path), checkpoint_every=1)).fit(w)
    payload = load_checkpoint(tmp_path / "last.pt")
    save_checkpoint(tmp_path / "old.pt", {**payload, "version": 1})
    with pytest.raises(FormatError, match=r"old.pt' has version 1; this hybridwm resumes version"):
        Trainer(make_model(), cfg(epochs=2, resume_from=str(tmp_path / "old.pt"))).fit(w)


def test_objective_is_a_module_whose_parameters_are_the_shooting_starts():
    model = make_model()
    assert list(Objective(model, cfg()).parameters()) == []
    hidden = hidden_velocity_model()
    objective = Objective(hidden, cfg(shooting="multiple"), n_positions=10)
    assert [p.shape for p in objective.parameters()] == [(10, 1)]
    # beside the starts: APHYNITY's multiplier and its reference losses (one per horizon)
    assert list(objective.state_dict()) == ["multiplier", "reference", "shooting.starts"]
    assert objective.to(dtype=torch.float32).shooting.starts.dtype == torch.float32


def test_fixed_collocation_reuses_one_sample_inside_the_block_only():
    model = make_model()
    objective = Objective(model, cfg())
    assert objective.pinn is not None
    with objective.fixed_collocation():
        x1, u1 = objective.pinn.sample()
        x2, u2 = objective.pinn.sample()
    x3, _ = objective.pinn.sample()
    assert torch.equal(x1, x2) and torch.equal(u1, u2) and not torch.equal(x1, x3)


def test_max_time_stops_early(data):
    h = Trainer(make_model(), cfg(epochs=10_000, max_time=0.5)).fit(make_windows(data, 5))
    assert h.stop_reason == "max_time" and len(h) < 10_000


def test_pinn_box_extends_beyond_data():
    model = make_model()
    c = cfg(collocation_scale=2.0, collocation_box={"u0": (-5.0, 5.0)}, n_collocation=4000)
    pinn = PinnLoss.from_config(model.dynamics, c, torch.Generator().manual_seed(0))
    x, u = pinn.sample()
    assert x[:, 0].abs().max() > 1.5 and x[:, 0].abs().max() <= 3.0
    assert x[:, 1].abs().max() > 3.0 and x[:, 1].abs().max() <= 6.0
    assert u.abs().max() > 4.0 and u.abs().max() <= 5.0
    with pytest.raises(ConfigError, match=r"collocation_box names \['nope'\]"):
        PinnLoss.from_config(model.dynamics, cfg(collocation_box={"nope": (0, 1)}), None)


def test_trainconfig_validation_and_round_trip(tmp_path):
    with pytest.raises(
        ConfigError, match=r"OptimConfig.epochs must be greater than or equal to 1. Got 0"
    ):
        TrainConfig(epochs=0)
    with pytest.raises(
        ConfigError, match=r"lr_schedule must be 'cosine', 'plateau' or 'constant'. Got 'step'"
    ):
        TrainConfig(lr_schedule="step")
    with pytest.raises(ConfigError, match=r"min_lr \(0.01\) must not exceed lr \(0.001\)"):
        TrainConfig(lr=1e-3, min_lr=1e-2)
    TrainConfig(lr=1e-3, min_lr=1e-2, lr_schedule="constant")
    with pytest.raises(ConfigError, match=r"Unknown TrainConfig field\(s\) \['epoch'\]"):
        TrainConfig.from_dict({"epoch": 3})
    c = TrainConfig(horizon=7, collocation_box={"x": (0, 1)})
    c.save(tmp_path / "c.json")
    assert TrainConfig.from_file(tmp_path / "c.json") == c


def test_physics_first_holds_the_residual_at_zero_then_trains_both(data):
    """The physics-first phase trains the physics alone (the zero-started residual untouched,
    its end validated), the L-BFGS polish ends it, then both train; steps match the budget."""
    phys = LinearPhysics(A_PHYS, B, trainable=True)
    model = make_model(phys, seed=3)
    last = model.dynamics.residual.net[-1].weight
    with torch.no_grad():
        last.zero_()  # the residual starts at exactly zero, as WorldModel builds it
    norms: list[float] = []
    handle = register_optimizer_step_post_hook(
        lambda *_: norms.append(float(last.detach().abs().sum()))
    )
    try:
        config = cfg(epochs=None, steps=12, batch_size=8, physics_first=0.5, physics_polish=2)
        history = Trainer(model, config).fit(make_windows(data[:5], 5), make_windows(data[5:], 30))
    finally:
        handle.remove()
    # 6 physics steps: 4 Adam steps and one L-BFGS call of 2 iterations, then 6 joint steps
    assert norms[:5] == [0.0] * 5 and norms[5] > 0.0 and len(norms) == 11
    physics = [r for r in history.records if r.get("phase") == "physics"]
    assert sum(r["steps"] for r in physics) == 6 and physics[-1]["val_nrmse"] is not None
    assert history.steps == 12


def test_patience_in_the_physics_phase_ends_the_phase_not_the_fit(data, tmp_path):
    """Physics that starts exact cannot improve on validation, so patience runs out in the
    physics-first phase; it ends that phase (recorded, and kept in the checkpoint for a
    resumed run), not the fit: the residual still trains, with a patience of its own."""
    phys = LinearPhysics(A_TRUE, B, trainable=True)
    model = make_model(phys, seed=3)
    last = model.dynamics.residual.net[-1].weight
    with torch.no_grad():
        last.zero_()
    norms: list[float] = []
    handle = register_optimizer_step_post_hook(
        lambda *_: norms.append(float(last.detach().abs().sum()))
    )
    config = cfg(
        epochs=None, steps=200, batch_size=8, physics_first=0.9, physics_polish=0,
        patience=5, curriculum=False, checkpoint_dir=str(tmp_path), checkpoint_every=1,
    )  # fmt: skip
    try:
        history = Trainer(model, config).fit(make_windows(data[:5], 5), make_windows(data[5:], 30))
    finally:
        handle.remove()
    ended = [r for r in history.records if r.get("phase_end")]
    assert [r["phase_end"] for r in ended] == ["physics: patience"]
    assert ended[0]["phase"] == "physics"
    phase_end = sum(r["steps"] for r in history.records[: history.records.index(ended[0]) + 1])
    assert phase_end < 180  # the planned end: 0.9 of the budget
    joint = history.records[history.records.index(ended[0]) + 1 :]
    assert joint and all("phase" not in r for r in joint) and sum(r["steps"] for r in joint) > 0
    assert history.stop_reason == "patience" and history.steps < 200  # the joint phase's own
    # the residual held at zero in the physics phase, trained after it
    assert norms[:phase_end] == [0.0] * phase_end and norms[phase_end] > 0.0
    assert load_checkpoint(tmp_path / "last.pt")["phase_ends"] == {"physics": phase_end}


def test_the_joint_phase_has_a_patience_of_its_own(data):
    """Patience that runs out exactly where the physics-first phase was planned to end (its
    steps without improvement all spent in the physics phase) does not stop the joint phase
    before it starts."""
    phys = LinearPhysics(A_TRUE, B, trainable=True)
    model = make_model(phys, seed=3)
    with torch.no_grad():
        model.dynamics.residual.net[-1].weight.zero_()
    config = cfg(
        epochs=None, steps=200, batch_size=8, physics_first=0.5, physics_polish=0,
        patience=100, curriculum=False,
    )  # fmt: skip
    history = Trainer(model, config).fit(make_windows(data[:5], 5), make_windows(data[5:], 30))
    physics = [r for r in history.records if r.get("phase") == "physics"]
    assert sum(r["steps"] for r in physics) == 100 and not any("phase_end" in r for r in physics)
    joint = history.records[history.records.index(physics[-1]) + 1 :]
    assert sum(r["steps"] for r in joint) >= 100  # a whole patience of joint steps


def test_a_resumed_fit_keeps_a_phase_end_moved_by_patience(data, tmp_path):
    """A run interrupted after patience moved the physics phase's end (the L-BFGS polish
    moved with it) and resumed from its last.pt trains exactly like the uninterrupted run:
    without the end kept, the resumed run would hold the residual until the planned end."""
    train, val = make_windows(data[:5], 5), make_windows(data[5:], 30)

    def run(out: str, resume: str | None = None, stop_at: int | None = None) -> ODEModel:
        model = make_model(LinearPhysics(A_TRUE, B, trainable=True), seed=3)
        with torch.no_grad():
            model.dynamics.residual.net[-1].weight.zero_()
        config = cfg(
            epochs=None, steps=200, batch_size=8, physics_first=0.9, physics_polish=2,
            patience=5, curriculum=False, pinn_weight=0.0, checkpoint_dir=str(tmp_path / out),
            checkpoint_every=1, resume_from=resume,
        )  # fmt: skip
        steps = itertools.count(1)

        def interrupt(*_):
            if stop_at is not None and next(steps) == stop_at:
                raise KeyboardInterrupt

        handle = register_optimizer_step_post_hook(interrupt)
        try:
            Trainer(model, config).fit(train, val)
        finally:
            handle.remove()
        return model

    straight = run("straight")
    moved = load_checkpoint(tmp_path / "straight" / "last.pt")["phase_ends"]["physics"]
    assert moved < 180  # the planned end: 0.9 of the budget
    with pytest.raises(KeyboardInterrupt):  # in the joint phase's first epoch
        run("first", stop_at=moved + 5)
    first = load_checkpoint(tmp_path / "first" / "last.pt")
    assert first["phase_ends"] == {"physics": moved}
    resumed = run("resumed", resume=str(tmp_path / "first" / "last.pt"))
    for k, v in straight.state_dict().items():
        assert torch.equal(resumed.state_dict()[k], v), k
    a, b = (load_checkpoint(tmp_path / d / "last.pt") for d in ("straight", "resumed"))
    assert [r["steps"] for r in a["history"]] == [r["steps"] for r in b["history"]]
    assert len(first["history"]) < len(a["history"])  # the interrupt came before the end


def test_encoder_first_holds_the_dynamics_then_physics_first_then_both(data):
    """A hybrid with a hidden coordinate and trainable physics: the encoder trains alone
    (physics and residual untouched, the phase's end validated) in the first part of the
    physics-first phase, then the physics (the residual held), then everything; the joint
    phase keeps its steps and the steps add up."""
    measured = TrajectorySet(
        Trajectory(tr.t, tr.x[:, :1], tr.u, ("x0",), tr.action_names) for tr in data
    )
    torch.manual_seed(0)
    norm = Normalizer(2, 1).set(x_min=[-1.5, -3.0], x_max=[1.5, 3.0], dx_scale=[2.0, 5.0])
    phys = LinearPhysics(A_PHYS, B, trainable=True)
    dyn = HybridDynamics(("x0", "x1"), ("u0",), phys, MLP((8,)).build(3, 2), norm)
    model = ODEModel(dyn, ("x0",), Encoder(1, 1, 1, window=2, hidden=(8,))).double()
    last = model.dynamics.residual.net[-1].weight
    with torch.no_grad():
        last.zero_()
    tracked = {"physics": phys.A, "residual": last, "encoder": next(model.encoder.parameters())}
    seen: list[dict[str, torch.Tensor]] = []
    handle = register_optimizer_step_post_hook(
        lambda *_: seen.append({k: v.detach().clone() for k, v in tracked.items()})
    )
    try:
        config = cfg(
            epochs=None, steps=20, batch_size=8, encoder_first=0.5, physics_first=0.5,
            physics_polish=0, pinn_weight=0.0,
        )  # fmt: skip
        history = Trainer(model, config).fit(
            make_windows(measured[:5], 5), make_windows(measured[5:], 29)
        )
    finally:
        handle.remove()
    # 10 steps train the physics (physics_first): 5 of them the encoder alone; then 10 joint
    assert len(seen) == 20 and history.steps == 20
    moved = [{k: not torch.equal(a[k], b[k]) for k in tracked} for a, b in itertools.pairwise(seen)]
    assert all(m == {"physics": False, "residual": False, "encoder": True} for m in moved[:4])
    assert all(m["physics"] and not m["residual"] for m in moved[5:9])
    assert all(m["residual"] for m in moved[10:])
    phases = [(r.get("phase"), r["steps"]) for r in history.records[1:]]
    encoder = [r for r in history.records if r.get("phase") == "encoder"]
    assert sum(n for ph, n in phases if ph == "encoder") == 5
    assert sum(n for ph, n in phases if ph == "physics") == 5
    assert encoder[-1]["val_nrmse"] is not None  # the phase's end is validated


def test_learned_and_fully_observed_models_have_no_encoder_phase(data):
    """Nothing physical to train an encoder against (learned dynamics), or no encoder: the
    encoder-first setting changes nothing."""
    measured = TrajectorySet(
        Trajectory(tr.t, tr.x[:, :1], tr.u, ("x0",), tr.action_names) for tr in data
    )
    torch.manual_seed(0)
    norm = Normalizer(2, 1).set(x_min=[-1.5, -3.0], x_max=[1.5, 3.0], dx_scale=[2.0, 5.0])
    dyn = HybridDynamics(("x0", "x1"), ("u0",), None, MLP((8,)).build(3, 2), norm)
    learned = ODEModel(dyn, ("x0",), Encoder(1, 1, 1, window=2, hidden=(8,))).double()
    history = Trainer(learned, cfg(epochs=None, steps=6, encoder_first=0.5)).fit(
        make_windows(measured[:5], 5), make_windows(measured[5:], 29)
    )
    assert not any(r.get("phase") for r in history.records)
    runs = []
    for first in (0.0, 0.5):
        model = make_model(seed=1)
        Trainer(model, cfg(epochs=None, steps=6, encoder_first=first)).fit(
            make_windows(data[:5], 5), make_windows(data[5:], 30)
        )
        runs.append(model.state_dict())
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])


@pytest.mark.parametrize(
    ("setting", "value", "match"),
    [
        ("physics_first", 1.0, "physics_first"),
        ("physics_polish", -1, "physics_polish"),
        ("encoder_first", 1.0, "encoder_first"),
        ("encoder_first", -0.1, "encoder_first"),
    ],
)
def test_physics_phase_settings_are_checked(setting, value, match):
    with pytest.raises(ConfigError, match=match):
        TrainConfig(**{setting: value})
