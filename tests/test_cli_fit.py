"""``hybridwm fit``: Ctrl-C keeps the training and `--resume` continues it bit for bit; the
output location, `--hidden`, `--seed` and `--device` are checked before training (issue 19)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import torch
import typer

from hybridwm.cli import app, run
from hybridwm.models import WorldModel
from hybridwm.training import Trainer, load_checkpoint

#: the pendulum without damping, g/l to be learned: the hybrid has physics, so the PINN term is on
PRIOR = (
    'states = ["theta", "omega"]\nactions = ["torque"]\n'
    'equations = ["d(theta) = omega", "d(omega) = -gl*sin(theta) + torque"]\n'
    "[parameters]\ngl = { value = 6.0, bounds = [1.0, 20.0] }\n"
)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("fit")
    sim = ["simulate", "--system", "pendulum", "--duration", "1.0", "--dt", "0.02"]
    sim += ["--n-trajectories", "4", "--no-progress", "--out", str(d / "data.parquet")]
    assert run(sim) == 0
    (d / "prior.toml").write_text(PRIOR)
    return d


def fit_args(inputs: Path, out: Path, *extra: str) -> list[str]:
    args = ["fit", "--data", str(inputs / "data.parquet"), "--prior", str(inputs / "prior.toml")]
    args += ["--hidden", "8", "--epochs", "4", "--horizon", "5", "--batch-size", "32"]
    args += ["--pinn-weight", "0.1", "--n-collocation", "16", "--no-progress"]
    return [*args, "--out", str(out), *extra]


def interrupt_at(monkeypatch: pytest.MonkeyPatch, at: int) -> None:
    """Make the ``at``-th gradient step raise KeyboardInterrupt (a Ctrl-C at a fixed point)."""
    step, calls = Trainer._step, [0]

    def stepping(self: Trainer, *args: Any, **kw: Any) -> Any:
        calls[0] += 1
        if calls[0] == at:
            raise KeyboardInterrupt
        return step(self, *args, **kw)

    monkeypatch.setattr(Trainer, "_step", stepping)


def raising(exc: BaseException) -> Any:
    """A stand-in for a method that raises ``exc`` when called."""

    def method(*_: Any, **__: Any) -> None:
        raise exc

    return method


def weights(path: Path) -> dict[str, torch.Tensor]:
    return WorldModel.load(path).model_.state_dict()


def test_ctrl_c_saves_the_best_model_and_resume_continues_bit_for_bit(
    inputs: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    straight = tmp_path / "straight"
    assert run(fit_args(inputs, straight)) == 0
    capsys.readouterr()

    out = tmp_path / "model"
    with monkeypatch.context() as patch:
        # 3 training episodes, 5 steps an epoch, 20 steps: the physics-first phase is 14 steps
        # (7 Adam steps, then 7 L-BFGS iterations that end epoch 2), the joint phase 6 more;
        # the 13th Adam step is the first of epoch 4, after the phase and its polish
        interrupt_at(patch, 13)
        assert run(fit_args(inputs, out)) == 130
    err = " ".join(capsys.readouterr().err.split())
    assert (
        "Interrupted after epoch 3 (19 optimizer steps)" in err
        and "Saved the best model so far" in err
    )
    assert str(out) in err and "--resume" in err
    WorldModel.load(out)  # a loadable model, the best so far
    checkpoint = load_checkpoint(out / "checkpoint" / "last.pt")
    assert checkpoint["epoch"] == 3 and checkpoint["optimizer"]["state"]
    assert "pinn" in checkpoint["rng"]

    assert run(fit_args(inputs, out, "--resume")) == 0
    a, b = weights(straight), weights(out)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    ha, hb = WorldModel.load(straight).history_, WorldModel.load(out).history_
    drop = [{k: v for k, v in r.items() if k != "time"} for r in ha.records]
    assert drop == [{k: v for k, v in r.items() if k != "time"} for r in hb.records]
    assert not (out / "checkpoint").exists()  # consumed: the model directory was replaced


def test_ctrl_c_before_training_saves_nothing(
    inputs: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(Trainer, "_start", raising(KeyboardInterrupt()))
    assert run(fit_args(inputs, tmp_path / "m")) == 130
    assert "nothing saved" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_resume_without_a_checkpoint_is_a_clear_error(
    inputs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(fit_args(inputs, tmp_path / "m", "--resume")) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "`--resume` continues an interrupted fit" in err and "does not exist" in err
    args = fit_args(inputs, tmp_path / "m", "--resume", "--resume-from", "x.pt")
    assert run(args) == 2
    assert "either `--resume`" in " ".join(capsys.readouterr().err.split())


def test_checkpoint_settings_are_flags() -> None:
    command = typer.main.get_command(app).commands["fit"]  # type: ignore[attr-defined]
    flags = {flag for p in command.params for flag in p.opts}
    assert {"--checkpoint-dir", "--checkpoint-every", "--resume-from", "--resume"} <= flags


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--seed", "-1"], r"RunConfig.seed must be greater than or equal to 0. Got -1"),
        (["--device", "nope"], r"device must be a torch device such as 'cpu'.*Got 'nope'"),
        (["--hidden", ","], r"`--hidden` must list at least one layer width.*`--hidden linear`"),
    ],
)
def test_bad_flags_are_refused_before_training(
    inputs: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    flags: list[str],
    message: str,
) -> None:
    assert run(fit_args(inputs, tmp_path / "m", *flags)) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert pytest.importorskip("re").search(message, err), err
    assert "Traceback" not in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a torch without CUDA")
def test_cuda_on_a_cpu_only_torch_is_refused(
    inputs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(fit_args(inputs, tmp_path / "m", "--device", "cuda")) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "device is 'cuda'" in err and "valid here: 'cpu'" in err
    assert "install a CUDA build of torch" in err


def test_hidden_linear_asks_for_a_network_without_hidden_layers(
    inputs: Path, tmp_path: Path
) -> None:
    out = tmp_path / "m"
    assert run([*fit_args(inputs, out), "--epochs", "1", "--hidden", "linear"]) == 0
    assert WorldModel.load(out).check_params().residual.hidden == ()


def test_out_is_checked_before_training(
    inputs: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(WorldModel, "fit", raising(AssertionError("training started")))
    file = tmp_path / "file.txt"
    file.write_text("keep me")
    assert run(fit_args(inputs, file)) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "`--out` must be a directory" in err and "an existing file" in err
    assert file.read_text() == "keep me"
    assert run(fit_args(inputs, file / "model")) == 2
    assert "is not a directory" in " ".join(capsys.readouterr().err.split())
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("x")
    assert run(fit_args(inputs, other)) == 2
    assert "a directory with other files" in " ".join(capsys.readouterr().err.split())


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root may write anywhere")
def test_out_in_an_unwritable_directory_is_refused(
    inputs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        assert run(fit_args(inputs, locked / "m")) == 2
    finally:
        locked.chmod(0o700)
    assert "is not writable" in " ".join(capsys.readouterr().err.split())


def test_fit_says_what_the_closure_wrote_into_the_prior(
    inputs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With a step budget, a hybrid of a declared prior closes (TrainConfig.closure="auto")
    and ``fit`` prints the outcome; ``--closure off`` fits in one stage."""
    args = ["fit", "--data", str(inputs / "data.parquet"), "--prior", str(inputs / "prior.toml")]
    args += ["--hidden", "8", "--steps", "30", "--horizon", "5", "--no-progress"]
    assert run([*args, "--out", str(tmp_path / "closing")]) == 0
    out = capsys.readouterr().out
    assert "Closure:" in out
    assert "in 30 optimizer steps" in out
    assert WorldModel.load(tmp_path / "closing").history_.steps == 30
    assert run([*args, "--closure", "off", "--out", str(tmp_path / "plain")]) == 0
    assert "Closure:" not in capsys.readouterr().out


#: the pendulum of tests/models/test_closure.py: damping 0.3 that the prior below lacks
DAMPED_PRIOR = (
    'states = ["theta", "omega"]\nactions = ["torque"]\n'
    'equations = ["d(theta) = omega", "d(omega) = -w0**2*sin(theta) + k*torque"]\n'
    "[parameters]\nw0 = 2.7\nk = 1.1\n"
)


def test_ctrl_c_in_the_closures_second_stage_keeps_the_first_stages_model(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from hybridwm.data import write_trajectories
    from hybridwm.dynamics import PendulumPhysics, reference_dataset

    damped = PendulumPhysics(w0=3.0, damping=0.3, gain=1.0)
    data = reference_dataset(damped, 8, 60, 0.05, x_scale=(2.0, 3.0), u_scale=2.0, seed=0)
    write_trajectories(data, tmp_path / "data.parquet")
    (tmp_path / "prior.toml").write_text(DAMPED_PRIOR)
    args = [
        "fit",
        "--data",
        str(tmp_path / "data.parquet"),
        "--prior",
        str(tmp_path / "prior.toml"),
    ]
    args += ["--hidden", "32,32", "--steps", "160", "--horizon", "8", "--no-progress"]
    args += ["--out", str(tmp_path / "m")]
    interrupt_at(monkeypatch, 100)  # stage 1 is the first 80 steps
    assert run(args) == 130
    err = capsys.readouterr().err
    assert "closure's second stage" in err, err
    assert "cannot be resumed" in err
    saved = WorldModel.load(tmp_path / "m")
    assert not any(p.startswith("closure_") for p in saved.physics_model.parameter_names)


def test_residual_inputs_is_a_flag(
    inputs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--residual-inputs omega,torque`` fits a hybrid whose residual reads those two only; a
    name that is neither a state nor an action is refused before training, naming the valid
    ones."""
    out = tmp_path / "m"
    assert run(fit_args(inputs, out, "--model", "hybrid", "--residual-inputs", "omega,torque")) == 0
    assert "The residual reads ['omega', 'torque'] only." in capsys.readouterr().out
    model = WorldModel.load(out)
    assert model.residual_inputs == ("omega", "torque")
    assert model.model_.dynamics.residual.n_in == 2
    bad = fit_args(inputs, tmp_path / "bad", "--model", "hybrid", "--residual-inputs", "phi")
    assert run(bad) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "`residual_inputs` names ['phi'], which are neither model states" in err, err
    assert "Traceback" not in err
