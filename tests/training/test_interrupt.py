"""Ctrl-C during training: the best weights come back, a checkpoint of the last completed epoch
is written and attached to the interrupt, and resuming from it continues bit for bit (issue 19)."""

from __future__ import annotations

from typing import Any

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
from hybridwm.training import TrainConfig, Trainer, load_checkpoint, save_checkpoint

A_TRUE = np.array([[0.0, 1.0], [-4.0, -0.5]])
A_PHYS = np.array([[0.0, 1.0], [-4.0, 0.0]])
B = np.array([[0.0], [1.0]])


@pytest.fixture(scope="module")
def windows() -> tuple[Any, Any]:
    data = reference_dataset(LinearPhysics(A_TRUE, B), 6, 30, 0.05, seed=0)
    return make_windows(data[:5], 5), make_windows(data[5:], 29)


def make_model() -> ODEModel:
    torch.manual_seed(0)
    norm = Normalizer(2, 1).set(x_min=[-1.5, -3.0], x_max=[1.5, 3.0], dx_scale=[2.0, 5.0])
    phys = LinearPhysics(A_PHYS, B, trainable=True)
    dyn = HybridDynamics(("x0", "x1"), ("u0",), phys, MLP((8,), init_scale=0.1).build(3, 2), norm)
    return ODEModel(dyn).double()


def config(tmp: Any, **kw: Any) -> TrainConfig:
    base: dict[str, Any] = dict(
        epochs=6,
        batch_size=32,
        horizon=5,
        lr=1e-2,
        physics_lr=0.05,
        pinn_weight=0.1,  # the collocation draws must come back with the checkpoint
        n_collocation=16,
        patience=None,
        progress=False,
        checkpoint_dir=str(tmp),
        checkpoint_every=1,
    )
    return TrainConfig(**{**base, **kw})


class StopAt(Trainer):
    """A Trainer whose ``at``-th gradient step raises KeyboardInterrupt (a Ctrl-C, in order)."""

    def __init__(self, *args: Any, at: int, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.at, self.calls = at, 0

    def _step(self, *args: Any, **kw: Any) -> Any:
        self.calls += 1
        if self.calls == self.at:
            raise KeyboardInterrupt
        return super()._step(*args, **kw)


def without_time(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k != "time"} for r in records]


def same_state(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_interrupted_then_resumed_equals_straight_bit_for_bit(windows, tmp_path) -> None:
    train, val = windows
    straight = make_model()
    h_straight = Trainer(straight, config(tmp_path / "straight")).fit(train, val)

    first = make_model()
    # 5 steps an epoch, 30 steps: the physics-first phase is 21 steps (11 Adam steps, then 10
    # L-BFGS iterations that end epoch 3); the 13th Adam step is inside epoch 4
    trainer = StopAt(first, config(tmp_path / "first"), at=13)
    with pytest.raises(KeyboardInterrupt) as info:
        trainer.fit(train, val)
    exc = info.value
    assert exc.checkpoint["epoch"] == 3 and exc.history.stop_reason == "interrupted"
    assert exc.checkpoint["elapsed"] > 0 and "pinn" in exc.checkpoint["rng"]
    # the model holds the best weights; last.pt is the state after epoch 3, with the optimizer
    best = load_checkpoint(tmp_path / "first" / "best.pt")
    assert same_state(first.state_dict(), best["model"])
    last = load_checkpoint(tmp_path / "first" / "last.pt")
    assert last["epoch"] == 3 and last["optimizer"]["state"]
    assert same_state(last["model"], exc.checkpoint["model"])
    save_checkpoint(tmp_path / "interrupted.pt", exc.checkpoint)

    resumed = make_model()
    c = config(tmp_path / "resumed", resume_from=str(tmp_path / "interrupted.pt"))
    h_resumed = Trainer(resumed, c).fit(train, val)

    assert same_state(straight.state_dict(), resumed.state_dict())
    assert without_time(h_straight.records) == without_time(h_resumed.records)
    assert (h_straight.best_epoch, h_straight.best_score) == (
        h_resumed.best_epoch,
        h_resumed.best_score,
    )
    a, b = (load_checkpoint(tmp_path / d / "last.pt") for d in ("straight", "resumed"))
    assert torch.equal(a["generator"], b["generator"])
    assert a["rng"].keys() == b["rng"].keys() == {"torch", "pinn"}
    assert all(torch.equal(a["rng"][k], b["rng"][k]) for k in a["rng"])
    assert same_state(a["objective"], b["objective"]) and a["schedule"] == b["schedule"]
    assert a["optimizer"]["state"].keys() == b["optimizer"]["state"].keys()
    for key, sa in a["optimizer"]["state"].items():
        sb = b["optimizer"]["state"][key]
        assert same_state(sa, sb)
    # the time budget continues: the resumed epochs count the interrupted run's seconds
    assert h_resumed.records[4]["time"] > exc.checkpoint["elapsed"]


def test_interrupt_attaches_the_checkpoint_without_checkpoint_dir(windows) -> None:
    train, val = windows
    model = make_model()
    with pytest.raises(KeyboardInterrupt) as info:
        StopAt(model, config(None, checkpoint_dir=None), at=8).fit(train, val)
    checkpoint = info.value.checkpoint
    assert checkpoint["epoch"] == 1 and checkpoint["version"] == 3
    assert checkpoint["optimizer"]["state"] and checkpoint["history"][-1]["epoch"] == 1
    assert info.value.history.stop_reason == "interrupted"


def test_interrupt_before_training_attaches_nothing(windows, monkeypatch) -> None:
    train, val = windows

    def interrupt(*_: Any, **__: Any) -> float:
        raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "_validate", interrupt)
    with pytest.raises(KeyboardInterrupt) as info:
        Trainer(make_model(), config(None, checkpoint_dir=None)).fit(train, val)
    assert getattr(info.value, "checkpoint", None) is None


def test_resume_after_the_last_epoch_does_not_train_on(windows, tmp_path) -> None:
    """A checkpoint written when patience stopped the run resumes to the same end."""
    train, val = windows
    c = config(tmp_path / "a", epochs=30, patience=1, lr=0.5)
    model = make_model()
    history = Trainer(model, c).fit(train, val)
    assert history.stop_reason == "patience"
    again = make_model()
    h2 = Trainer(again, c.replace(checkpoint_dir=None, resume_from=str(tmp_path / "a" / "last.pt")))
    h2.fit(train, val)
    assert h2.history.stop_reason == "patience"
    assert len(h2.history) == len(history)
    assert same_state(model.state_dict(), again.state_dict())
