"""The command line: each command runs the public API and turns errors into clear messages."""

from __future__ import annotations

import errno
import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from hybridwm.cli import main, run
from hybridwm.cli import simulate as simulate_module
from hybridwm.errors import OutputError
from hybridwm.training import TrainConfig


def test_systems_json_lists_the_four_systems(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["systems", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    names = {r["name"] for r in rows}
    assert {"pendulum", "cartpole", "acrobot", "reacher"} <= names
    pend = next(r for r in rows if r["name"] == "pendulum")
    assert pend["states"] == ["theta", "omega"]
    assert {"train", "id", "ood-state", "ood-action", "ood-params"} <= set(pend["scenarios"])


def test_simulate_writes_documented_parquet_and_is_reproducible(tmp_path: Path) -> None:
    args = ["simulate", "--system", "cartpole", "--scenario", "train", "--n-trajectories", "3"]
    args += ["--duration", "0.2", "--dt", "0.01", "--seed", "7", "--no-progress"]
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    assert run([*args, "--out", str(a)]) == 0
    assert run([*args, "--out", str(b)]) == 0
    df = pd.read_parquet(a)
    assert list(df.columns) == ["episode", "t", "x", "theta", "v", "omega", "force"]
    assert df["episode"].nunique() == 3
    assert len(df) == 3 * 21
    digest = [hashlib.sha256(p.read_bytes()).hexdigest() for p in (a, b)]
    assert digest[0] == digest[1]


def test_simulate_param_override_changes_the_data(tmp_path: Path) -> None:
    common = ["simulate", "--system", "pendulum", "--n-trajectories", "2", "--duration", "0.5"]
    common += ["--no-progress"]
    assert run([*common, "--out", str(tmp_path / "a.parquet")]) == 0
    assert run([*common, "--param", "mass=2.0", "--out", str(tmp_path / "b.parquet")]) == 0
    a = pd.read_parquet(tmp_path / "a.parquet")
    b = pd.read_parquet(tmp_path / "b.parquet")
    assert not a["omega"].equals(b["omega"])


def test_unknown_system_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "x.parquet"
    assert run(["simulate", "--system", "foo", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "Unknown system 'foo'" in err and "'cartpole'" in err
    assert not out.exists()


def test_negative_dt_is_a_clear_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert run(["simulate", "--dt", "-0.01", "--out", str(tmp_path / "x.parquet")]) == 2
    assert "must be > 0" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["report", "runs/x", "--bogus"], "No such option: --bogus"),
        (["report"], "Missing argument"),
        (["simulate", "--system", "pendulum"], "Missing option '--out'"),
        (["simulate", "--seed", "many", "--out", "x.parquet"], "Invalid value"),
    ],
)
def test_usage_errors_exit_2_with_the_usage_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # typer >= 0.2x vendors click: usage errors must still print a usage message, not a traceback
    assert run(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Usage: hybridwm" in err


def test_main_exits_with_the_status_of_run(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as info:
        main(["simulate", "--dt", "-0.01", "--out", str(tmp_path / "x.parquet")])
    assert info.value.code == 2
    assert main(["systems", "--json"]) is None  # success: no exit


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--help"]) == 0
    out = capsys.readouterr().out
    for cmd in (
        "systems",
        "simulate",
        "collect",
        "discover",
        "fit",
        "rollout",
        "evaluate",
        "benchmark",
    ):
        assert cmd in out


# ---------------------------------------------------------------------- refused writes
SMALL = ["simulate", "--system", "pendulum", "--n-trajectories", "1", "--duration", "0.1"]
SMALL += ["--no-progress"]


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith("Error: ")
    return " ".join(err.split())


def test_disk_full_during_simulate_is_a_message_and_keeps_the_earlier_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "data.csv"
    assert run([*SMALL, "--out", str(out)]) == 0
    before = out.read_bytes()

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", full)
    capsys.readouterr()
    assert run([*SMALL, "--seed", "3", "--out", str(out)]) == 2
    err = _one_line_error(capsys)
    assert "No space left on device" in err and str(out) in err
    assert out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["data.csv"]  # no temporary file left


@pytest.mark.parametrize(
    ("exc", "words"),
    [
        (lambda p: OutputError(f"Cannot write {p!r}: No space left on device."), "Cannot write"),
        (lambda p: PermissionError(errno.EACCES, "Permission denied", p), "Permission denied"),
    ],
)
def test_a_refused_write_names_the_output(
    exc: Callable[[str], Exception],
    words: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(data: object, path: Path) -> None:
        raise exc(str(path))

    monkeypatch.setattr(simulate_module, "write_trajectories", refuse)
    out = tmp_path / "data.parquet"
    assert run([*SMALL, "--out", str(out)]) == 2
    err = _one_line_error(capsys)
    assert words in err and str(out) in err


# ---------------------------------------------------------------------------------- sensor logs
PRIOR = """
states = ["theta", "omega"]
actions = ["torque"]
equations = ["d(theta) = omega", "d(omega) = -w0**2*sin(theta) - c*omega + b*torque"]
[parameters]
w0 = { value = 2.5, bounds = [0.5, 10.0] }
c = { value = 0.1, bounds = [0.0, 5.0] }
b = { value = 1.0, fixed = true }
"""


@pytest.fixture(scope="module")
def rig_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A foreign log: ms timestamps jittered ±20 %, only the angle, odd column names."""
    import numpy as np

    from hybridwm.dynamics import PendulumPhysics, reference_dataset

    data = reference_dataset(PendulumPhysics(3.0, 0.3, 1.0), 4, 40, 0.05, seed=0)
    rng = np.random.default_rng(1)
    rows = []
    for i, tr in enumerate(data):
        n = len(tr) - 3 * i  # different lengths
        t_ms = np.concatenate([[0], np.cumsum(np.round(50 * rng.uniform(0.8, 1.2, n - 1)))])
        for k in range(n):
            rows.append(
                {"run": f"r{i}", "time_ms": t_ms[k], "angle_rad": tr.x[k, 0], "cmd": tr.u[k, 0]}
            )
    path = tmp_path_factory.mktemp("rig") / "rig.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def mapping_flags(csv: Path) -> list[str]:
    return [
        "--data", str(csv), "--time", "time_ms", "--time-scale", "0.001",
        "--states", "angle_rad", "--actions", "cmd", "--episode", "run",
    ]  # fmt: skip


def test_fit_rollout_evaluate_from_a_foreign_log(
    rig_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "learned"
    args = ["fit", *mapping_flags(rig_csv), "--model", "learned", "--latent-dim", "1"]
    args += ["--hidden", "8", "--epochs", "1", "--horizon", "6", "--no-progress"]
    assert run([*args, "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Unmeasured states ['z0']" in text and "encoder" in text
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["observed_names"] == ["angle_rad"] and cfg["params"]["init"] == "encoder"
    pred = tmp_path / "pred.csv"
    roll = ["rollout", "--model", str(out), *mapping_flags(rig_csv), "--out", str(pred)]
    assert run([*roll, "--init", "optimize"]) == 0
    text = capsys.readouterr().out
    assert "optimized on the first" in text and "angle_rad" in text and "nRMSE" in text
    assert run(["evaluate", "--model", str(out), *mapping_flags(rig_csv)]) == 0
    assert "nrmse[angle_rad]" in capsys.readouterr().out


def test_fit_with_a_declared_prior_over_an_unmeasured_state(
    rig_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prior = tmp_path / "prior.toml"
    prior.write_text(PRIOR)
    cols = tmp_path / "map.toml"
    cols.write_text(
        'time = "time_ms"\ntime_scale = 0.001\nepisode = "run"\nstates = ["angle_rad"]\n'
        'actions = ["cmd"]\nstate_names = ["theta"]\naction_names = ["torque"]\n'
    )
    out = tmp_path / "hybrid"
    args = ["fit", "--data", str(rig_csv), "--columns", str(cols), "--prior", str(prior)]
    args += ["--hidden", "8", "--epochs", "1", "--horizon", "6", "--no-progress"]
    assert run([*args, "--shooting", "multiple", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Unmeasured states ['omega']" in text and "multiple shooting" in text
    assert "w0 = " in text and "b = 1\n" in text


def test_fit_path_surfaces_data_errors(
    rig_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["fit", *mapping_flags(rig_csv), "--model", "learned", "--no-progress"]
    assert run([*args, "--horizon", "80", "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert "horizon=80" in err and "episode 'r" in err and "horizon <= " in err
    bad = ["fit", "--data", str(rig_csv), "--states", "angle_rad", "--model", "learned"]
    assert run([*bad, "--out", str(tmp_path / "m")]) == 2
    assert "needs --time" in capsys.readouterr().err
    assert run(["fit", *mapping_flags(rig_csv), "--out", str(tmp_path / "m")]) == 2
    assert "--prior PATH" in capsys.readouterr().err


def test_help_texts_keep_their_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    """Square brackets are rich markup: defaults written as [default: x] would vanish."""
    for command in (
        "simulate",
        "collect",
        "discover",
        "fit",
        "rollout",
        "evaluate",
        "benchmark",
        "report",
    ):
        assert run([command, "--help"]) == 0
        out = capsys.readouterr().out
        assert not re.search(r"\w \.(\s|$)", out), (command, out)


@pytest.fixture(scope="module")
def fitted(rig_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A learned model fitted on the foreign log through mapping flags (tiny budget), with the
    settings that used to be reachable only through --config."""
    out = tmp_path_factory.mktemp("fitted") / "learned"
    args = ["fit", *mapping_flags(rig_csv), "--model", "learned", "--hidden", "8"]
    args += ["--epochs", "1", "--horizon", "6", "--no-progress", "--patience", "3"]
    args += ["--physics-lr", "0.01", "--residual-weight", "0.02", "--train-solver", "euler"]
    args += ["--init-window", "7", "--out", str(out)]
    assert run(args) == 0
    return out


def test_fit_flags_reach_the_configs(fitted: Path) -> None:
    cfg = TrainConfig.from_file(fitted / "train_config.json")
    assert (cfg.patience, cfg.physics_lr, cfg.residual_weight) == (3, 0.01, 0.02)
    assert (cfg.solver, cfg.epochs, cfg.horizon) == ("euler", 1, 6)
    params = json.loads((fitted / "config.json").read_text())["params"]
    assert params["init_window"] == 7 and params["solver"] == "rk4"


def test_rollout_and_evaluate_reuse_the_model_column_mapping(
    fitted: Path, rig_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    pred = tmp_path / "pred.csv"
    assert run(["rollout", "--model", str(fitted), "--data", str(rig_csv), "--out", str(pred)]) == 0
    rolled = capsys.readouterr().out
    assert "Rolled out 4 episodes" in rolled and "angle_rad" in rolled
    assert run(["evaluate", "--model", str(fitted), "--data", str(rig_csv)]) == 0
    table = capsys.readouterr().out
    assert "nrmse[angle_rad]" in table and "rmse[angle_rad]" in table
    # flags given override the remembered mapping
    over = ["evaluate", "--model", str(fitted), "--data", str(rig_csv), "--time", "clock"]
    assert run(over) == 2
    assert "clock" in capsys.readouterr().err
    # the predictions are a hybridwm file: read without any mapping
    assert run(["evaluate", "--model", str(fitted), "--data", str(pred), "--solver", "euler"]) == 0
    assert run(["evaluate", "--model", str(fitted), "--data", str(pred), "--init", "guess"]) == 2
    assert "guess" in capsys.readouterr().err


def test_rollout_and_evaluate_print_the_same_scores(
    fitted: Path, rig_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    metrics = tmp_path / "metrics.json"
    capsys.readouterr()
    args = ["--model", str(fitted), "--data", str(rig_csv)]
    assert run(["rollout", *args, "--out", str(tmp_path / "p.csv")]) == 0
    rolled = " ".join(capsys.readouterr().out.split())
    assert run(["evaluate", *args, "--out", str(metrics)]) == 0
    values = json.loads(metrics.read_text())["metrics"]
    assert values["diverged"] == 0 and "diverged" not in rolled
    assert f"nRMSE {values['nrmse']:.4g} (angle_rad {values['nrmse[angle_rad]']:.4g})" in rolled
    assert f"units {values['rmse']:.4g} (angle_rad {values['rmse[angle_rad]']:.4g})" in rolled


def test_a_foreign_file_without_mapping_names_the_flags(
    rig_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["fit", "--data", str(rig_csv), "--model", "learned", "--out", str(tmp_path / "m")]
    assert run(args) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "rig.csv has no hybridwm schema" in err and "--time t --states a,b" in err
    assert "--columns FILE" in err and "ColumnMapping(" not in err


@pytest.fixture(scope="module")
def one_episode(rig_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two single-episode logs cut from the rig log: one to train on, one to validate on."""
    df = pd.read_csv(rig_csv)
    d = tmp_path_factory.mktemp("one")
    paths = d / "train.csv", d / "val.csv"
    for path, run_name in zip(paths, ("r0", "r1"), strict=True):
        df[df["run"] == run_name].drop(columns="run").to_csv(path, index=False)
    return paths


def test_single_episode_fit_says_what_it_measured(
    one_episode: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train, val = one_episode
    flags = ["--time", "time_ms", "--time-scale", "0.001", "--states", "angle_rad"]
    flags += ["--actions", "cmd", "--model", "learned", "--hidden", "8", "--epochs", "2"]
    flags += ["--horizon", "6", "--no-progress"]
    assert run(["fit", "--data", str(train), *flags, "--out", str(tmp_path / "a")]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "validation nRMSE" not in text
    assert "training loss" in text and "no validation episodes" in text and "--validation" in text
    args = ["--data", str(train), "--validation", str(val), *flags]
    assert run(["fit", *args, "--out", str(tmp_path / "b")]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "validation nRMSE" in text and "training loss" not in text
    assert "in 2 optimizer steps, 2 epochs" in text  # not counting the initial validation
