"""The command line: each command runs the public API and turns errors into clear messages."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest

from hybridwm.cli import main, parse_params
from hybridwm.errors import ConfigError


def run(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


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
    ("items", "message"),
    [(["mass"], "NAME=VALUE"), (["=1"], "NAME=VALUE"), (["mass=heavy"], "must be a number")],
)
def test_parse_params_errors(items: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_params(items)


def test_parse_params() -> None:
    assert parse_params(["mass=1.5", " damping = 0.2"]) == {"mass": 1.5, "damping": 0.2}


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--help"]) == 0
    out = capsys.readouterr().out
    for cmd in ("systems", "simulate"):
        assert cmd in out
