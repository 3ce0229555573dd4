"""The whole pipeline through the command line on tiny data: simulate → discover → fit → rollout
→ evaluate, and benchmark → report."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from hybridwm.cli import run


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("cli")
    common = ["--system", "pendulum", "--duration", "1.0", "--dt", "0.01", "--no-progress"]
    assert (
        run(["simulate", *common, "--n-trajectories", "6", "--out", str(d / "train.parquet")]) == 0
    )
    assert (
        run(
            [
                "simulate",
                *common,
                "--scenario",
                "ood-state",
                "--n-trajectories",
                "3",
                "--seed",
                "1",
                "--out",
                str(d / "ood.parquet"),
            ]
        )
        == 0
    )
    return d


def test_discover_prints_and_writes_equations(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = workdir / "physics.json"
    args = ["discover", "--data", str(workdir / "train.parquet"), "--library", "trig-poly"]
    assert run([*args, "--angles", "theta", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "d(omega)/dt" in text and "sin(theta)" in text
    physics = json.loads(out.read_text())
    assert physics["format"] == "hybridwm.physics"
    assert physics["state_names"] == ["theta", "omega"]


def test_discover_with_ensemble_reports_uncertainty(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = workdir / "physics-ens.json"
    args = ["discover", "--data", str(workdir / "train.parquet"), "--library", "trig"]
    assert run([*args, "--angles", "theta", "--ensemble", "5", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Ensemble" in text and "p=1.00" in text


def test_discover_with_a_denominator(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = workdir / "physics-rational.json"
    args = ["discover", "--data", str(workdir / "train.parquet"), "--library", "trig"]
    args += ["--angles", "theta", "--denominator", "cos(theta)", "--denominator-degree", "1"]
    assert run([*args, "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Denominator of d(omega)/dt:" in text
    rational = json.loads(out.read_text())["info"]["rational"]
    # the pendulum has a constant inertia: the learned denominator is (almost) 1
    assert rational["rational_states"] == ["omega"] and abs(rational["coefficients"][0]) < 0.01


def test_discover_refine_prints_standard_errors(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = workdir / "physics-refined.json"
    args = ["discover", "--data", str(workdir / "train.parquet"), "--library", "trig-poly"]
    assert (
        run(
            [
                *args,
                "--angles",
                "theta",
                "--refine",
                "coefficients",
                "--refine-segment",
                "50",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "Refined by simulation error (12 segments" in text
    assert "d(omega)/dt:" in text and "sin(theta)" in text and " ± " in text
    refinement = json.loads(out.read_text())["info"]["refinement"]
    assert refinement["segment"] == 50 and "sin(theta)" in refinement["standard_errors"]["omega"]


def test_discover_kinematics_pins_a_row(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = workdir / "physics-pinned.json"
    args = ["discover", "--data", str(workdir / "train.parquet"), "--library", "trig-poly"]
    assert run([*args, "--angles", "theta", "--kinematics", "theta=omega", "--out", str(out)]) == 0
    assert "d(theta)/dt = 1 omega\n" in capsys.readouterr().out
    assert json.loads(out.read_text())["info"]["kinematics"] == {"theta": "omega"}
    assert run([*args, "--kinematics", "theta:omega", "--out", str(out)]) == 2
    assert "must read 'position=velocity'" in capsys.readouterr().err


def test_fit_rollout_evaluate(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    physics = workdir / "physics.json"
    if not physics.exists():
        test_discover_prints_and_writes_equations(workdir, capsys)
    model = workdir / "hybrid"
    fit = ["fit", "--data", str(workdir / "train.parquet"), "--model", "hybrid"]
    fit += ["--physics", str(physics), "--out", str(model), "--epochs", "2", "--no-progress"]
    capsys.readouterr()
    assert run(fit) == 0
    assert "Residual gated to the training data (states)" in capsys.readouterr().out
    assert (model / "config.json").is_file()
    assert json.loads((model / "config.json").read_text())["params"]["gate"] == "states"
    pred = workdir / "pred.parquet"
    assert (
        run(
            [
                "rollout",
                "--model",
                str(model),
                "--data",
                str(workdir / "ood.parquet"),
                "--out",
                str(pred),
            ]
        )
        == 0
    )
    df = pd.read_parquet(pred)
    truth = pd.read_parquet(workdir / "ood.parquet")
    assert df.shape == truth.shape and list(df.columns) == list(truth.columns)
    capsys.readouterr()
    metrics = workdir / "metrics.json"
    assert (
        run(
            [
                "evaluate",
                "--model",
                str(model),
                "--data",
                str(workdir / "ood.parquet"),
                "--system",
                "pendulum",
                "--out",
                str(metrics),
            ]
        )
        == 0
    )
    values = json.loads(metrics.read_text())["metrics"]
    assert values["diverged"] == 0 and values["nrmse"] < 0.5
    assert "energy_drift" in values


def test_fit_errors_are_clear(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = str(workdir / "train.parquet")
    assert run(["fit", "--data", data, "--model", "gru", "--out", str(workdir / "x")]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "Invalid value for '--model'" in err and "'gru' is not one of 'learned'" in err
    assert run(["fit", "--data", data, "--model", "hybrid", "--out", str(workdir / "x")]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "hybrid WorldModel needs `physics`" in err and "Got None" in err
    assert "`--physics PATH`" in err and "`--prior PATH`" in err
    args = ["fit", "--data", data, "--model", "learned", "--physics", str(workdir / "p.json")]
    assert run([*args, "--prior", str(workdir / "p.toml"), "--out", str(workdir / "x")]) == 2
    assert "Give either `--physics`" in capsys.readouterr().err
    assert run(["fit", "--data", data, "--hidden", "64,x", "--out", str(workdir / "x")]) == 2
    assert "`--hidden` must be comma-separated integers" in capsys.readouterr().err
    no_angles = ["fit", "--data", data, "--angles", "theta", "--no-angles", "--model", "learned"]
    assert run([*no_angles, "--out", str(workdir / "x")]) == 2
    assert "cannot go with `--angles`" in capsys.readouterr().err
    assert (
        run(
            [
                "fit",
                "--data",
                str(workdir / "missing.parquet"),
                "--model",
                "learned",
                "--out",
                str(workdir / "x"),
            ]
        )
        == 2
    )
    assert "missing.parquet" in capsys.readouterr().err


def test_benchmark_and_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "bench.toml"
    cfg.write_text(
        'systems = ["pendulum"]\nmodels = ["physics", "hybrid"]\nscenarios = ["id"]\n'
        "n_train = 3\nn_eval = 2\nduration = 0.5\neval_duration = 0.5\n"
        '[train]\nepochs = 1\n[discover.pendulum]\nangles = ["theta"]\n'
    )
    out = tmp_path / "bench"
    assert (
        run(["benchmark", "--config", str(cfg), "--out", str(out), "--no-progress", "--no-report"])
        == 0
    )
    assert (out / "results.json").is_file() and not (out / "report.html").exists()
    assert run(["report", str(out)]) == 0
    assert (out / "report.html").is_file() and (out / "report.md").is_file()
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html
    # the benchmark command renders the report itself (the grid resumes: nothing is rerun)
    (out / "report.html").unlink()
    capsys.readouterr()
    assert run(["benchmark", "--config", str(cfg), "--out", str(out), "--no-progress"]) == 0
    assert (out / "report.html").is_file() and "Report:" in capsys.readouterr().out


def test_benchmark_steps_flag_sets_the_step_budget(tmp_path: Path) -> None:
    cfg = tmp_path / "bench.toml"
    cfg.write_text(
        'systems = ["pendulum"]\nmodels = ["hybrid"]\nscenarios = ["id"]\n'
        "n_train = 3\nn_eval = 2\nduration = 0.5\neval_duration = 0.5\n"
        '[train]\nepochs = 1\n[discover.pendulum]\nangles = ["theta"]\n'
    )
    out = tmp_path / "bench"
    args = ["benchmark", "--config", str(cfg), "--out", str(out), "--no-progress", "--no-report"]
    assert run([*args, "--steps", "3", "--max-time", "600"]) == 0
    saved = json.loads((out / "config.json").read_text())
    assert saved["train"] == {"steps": 3, "max_time": 600.0}
    training = json.loads((out / "results.json").read_text())["training"]
    assert [(r["model"], r["steps"]) for r in training if r["scenario"] == "train"] == [
        ("hybrid", 3)
    ]
    assert run([*args, "--steps", "0"]) == 2


def test_report_of_a_non_run_directory_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["report", str(tmp_path)]) == 2
    assert "results.json" in capsys.readouterr().err


def test_report_of_a_file_says_a_run_directory_is_expected(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["report", str(workdir / "train.parquet")]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "is a file" in err and "expects a run directory" in err
    assert "hybridwm benchmark --out DIR" in err and "does not exist" not in err


def _fitted(workdir: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    model = workdir / "hybrid"
    if not (model / "config.json").is_file():
        test_fit_rollout_evaluate(workdir, capsys)
    capsys.readouterr()
    return model


def test_evaluate_on_data_of_another_system_names_both(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = _fitted(workdir, capsys)
    cartpole = workdir / "cartpole.parquet"
    args = ["simulate", "--system", "cartpole", "--n-trajectories", "2", "--duration", "0.2"]
    assert run([*args, "--no-progress", "--out", str(cartpole)]) == 0
    capsys.readouterr()
    argv = ["evaluate", "--model", str(model), "--data", str(cartpole), "--system", "pendulum"]
    assert run(argv) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "recorded from system 'cartpole'" in err and "cart_mass" not in err
    assert "['theta', 'omega']" in err and "--system cartpole" in err


def test_negative_discover_seed_is_a_message(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, out = str(workdir / "train.parquet"), str(workdir / "never.json")
    assert run(["discover", "--data", data, "--out", out, "--seed", "-1"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert err.startswith("Error:") and "Traceback" not in err
    assert "seed" in err and "greater than or equal to 0" in err and "Got -1" in err


def test_a_binary_physics_file_is_a_message(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = _fitted(workdir, capsys)
    junk = bytes(range(128, 256)) * 4
    (workdir / "binary.json").write_bytes(junk)
    broken = workdir / "broken-model"
    shutil.copytree(model, broken, dirs_exist_ok=True)
    (broken / "physics.json").write_bytes(junk)
    data = str(workdir / "ood.parquet")
    fit = ["fit", "--data", data, "--physics", str(workdir / "binary.json")]
    for argv in (
        [*fit, "--out", str(workdir / "never"), "--epochs", "1", "--no-progress"],
        ["rollout", "--model", str(broken), "--data", data, "--out", str(workdir / "n.parquet")],
        ["evaluate", "--model", str(broken), "--data", data],
    ):
        assert run(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("Error:") and "Traceback" not in err, (argv, err)
