"""``hybridwm evaluate`` on an ensemble's directory: CRPS and NLL beside the usual metrics, and
with ``--detector`` each episode's change score and flag."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hybridwm.cli import run
from hybridwm.data import write_trajectories
from hybridwm.evaluation.detection import ChangeDetector
from hybridwm.models.ensemble import WorldModelEnsemble
from hybridwm.physics.priors import declare
from hybridwm.systems import simulate
from hybridwm.training import TrainConfig

pytestmark = pytest.mark.filterwarnings("ignore:Training ran:UserWarning")
# a declared prior (storable as JSON, so the saved ensemble loads without it) missing the damping
PRIOR = declare(
    ["d(theta) = omega", "d(omega) = -a*sin(theta) + b*torque"],
    parameters={"a": 14.0, "b": 3.0},
    state_names=["theta", "omega"],
    action_names=["torque"],
)


def _episodes(n: int, seed: int):
    return simulate(
        system="pendulum", scenario="train", n_trajectories=n, duration=1.5, dt=0.05,
        seed=seed, progress=False,
    )  # fmt: skip


def test_evaluate_an_ensemble_with_its_change_detector(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train, validation = _episodes(6, 0), _episodes(6, 1)
    cfg = TrainConfig(epochs=1, batch_size=64, horizon=8, progress=False, patience=None)
    ens = WorldModelEnsemble("hybrid", physics=PRIOR, n_members=2, hidden=(8,)).fit(train, cfg)
    model = ens.save(tmp_path / "ens")
    detector = ChangeDetector.fit(ens, validation).save(tmp_path / "detector.json")
    data = write_trajectories(validation, tmp_path / "val.parquet")
    out = tmp_path / "metrics.json"
    args = ["evaluate", "--model", str(model), "--data", str(data), "--out", str(out)]
    assert run([*args, "--detector", str(detector)]) == 0
    printed = capsys.readouterr().out
    assert "change detection" in printed and "flagged" in printed
    metrics = json.loads(out.read_text())["metrics"]
    assert {"nrmse", "crps", "nll", "flagged"} <= set(metrics)
    assert 0.0 <= metrics["flagged"] <= 1.0
    assert run(args) == 0  # without a detector: no flags, the ensemble's scores still there
    assert "flagged" not in json.loads(out.read_text())["metrics"]


def test_control_plans_over_a_saved_ensemble(tmp_path: Path, capsys) -> None:
    cfg = TrainConfig(epochs=1, batch_size=64, horizon=8, progress=False, patience=None)
    ens = WorldModelEnsemble("hybrid", physics=PRIOR, n_members=2, hidden=(8,))
    model = ens.fit(_episodes(4, 0), cfg).save(tmp_path / "ens")
    out = tmp_path / "ctl"
    args = ["control", "--task", "pendulum-swingup", "--model", str(model), "--seconds", "0.2"]
    args += ["--samples", "8", "--horizon", "3", "--disagreement", "1.0", "--no-animation"]
    assert run([*args, "--out", str(out)]) == 0
    assert "with hybrid-ensemble" in " ".join(capsys.readouterr().out.split())
    results = json.loads((out / "results.json").read_text())
    assert results["model"] == "hybrid-ensemble" and results["planner"]["disagreement"] == 1.0
    assert run([*args, "--float32", "--out", str(tmp_path / "f32")]) == 2  # its own dtype
    assert "An ensemble plans in its own dtype" in " ".join(capsys.readouterr().err.split())


def test_fit_an_ensemble_calibrated_with_its_detector(tmp_path: Path, capsys) -> None:
    files = {n: write_trajectories(_episodes(6, s), tmp_path / f"{n}.parquet")
             for n, s in (("train", 0), ("cal", 1), ("test", 2))}  # fmt: skip
    physics = PRIOR.save(tmp_path / "prior.json")
    out = tmp_path / "ens"
    args = ["fit", "--data", str(files["train"]), "--model", "hybrid", "--physics", str(physics)]
    args += ["--hidden", "8", "--epochs", "1", "--horizon", "8", "--no-progress"]
    args += ["--members", "2", "--out", str(out)]
    assert run([*args, "--calibration", str(files["cal"])]) == 0
    printed = " ".join(capsys.readouterr().out.split())
    assert "Fitted a hybrid ensemble of 2 members" in printed
    assert "Recalibrated on 6 episodes" in printed
    ens = WorldModelEnsemble.load(out)
    assert len(ens.members_) == 2 and ens.calibration_ is not None and ens.kind == "hybrid"
    detector = ChangeDetector.load(out / "detector.json")
    assert detector.threshold > 0
    evaluate = ["evaluate", "--model", str(out), "--data", str(files["test"])]
    assert run([*evaluate, "--detector", str(out / "detector.json")]) == 0
    assert "flagged" in capsys.readouterr().out
    # refits into the same directory, two members at a time; without --calibration it says so
    assert run([*args, "--workers", "2"]) == 0
    assert "Not recalibrated" in " ".join(capsys.readouterr().out.split())
    assert WorldModelEnsemble.load(out).calibration_ is None
    assert not (out / "detector.json").exists()


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--members", "0"], "`--members` must be an integer >= 1"),
        (["--physics-draws"], "--physics-draws applies to an ensemble; add `--members N`"),
        (["--calibration", "x.parquet"], "--calibration applies to an ensemble"),
        (["--members", "3", "--resume"], "cannot be resumed"),
        (["--workers", "2"], "--workers applies to an ensemble"),
        (["--members", "2", "--workers", "0"], "`--workers` must be an integer >= 1"),
    ],
)
def test_fit_ensemble_flags_teach_the_fix(tmp_path: Path, capsys, extra, match) -> None:
    data = write_trajectories(_episodes(2, 0), tmp_path / "train.parquet")
    args = ["fit", "--data", str(data), "--model", "learned", "--out", str(tmp_path / "m")]
    assert run([*args, *extra]) == 2
    assert match in " ".join(capsys.readouterr().err.split())
