"""``hybridwm discover``: row masks and episode selections, ``--library rational``, and every
DiscoverConfig field as a flag (``--order`` among them)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer

from hybridwm.cli import app, run
from hybridwm.cli.discover import rational_settings
from hybridwm.data import write_trajectories
from hybridwm.errors import ConfigError
from hybridwm.systems import simulate


@pytest.fixture(scope="module")
def pendulum(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = simulate(system="pendulum", n_trajectories=4, duration=2.0, seed=0)
    return write_trajectories(data, tmp_path_factory.mktemp("d") / "pendulum.parquet")


@pytest.fixture(scope="module")
def cartpole(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = simulate(system="cartpole", n_trajectories=6, duration=3.0, seed=0)
    return write_trajectories(data, tmp_path_factory.mktemp("d") / "cartpole.parquet")


def discover(data: Path, out: Path, *flags: str) -> int:
    fast = ["--library", "trig", "--threshold", "0.05", "--window", "11", "--no-diagnostics"]
    return run(["discover", "--data", str(data), "--out", str(out), *fast, *flags])


def test_episode_selection_and_masks_choose_the_samples(
    pendulum: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "p.json"
    assert discover(pendulum, out, "--episodes", "0,1", "--exclude-episodes", "1") == 0
    assert "Selection: kept 1 of 4 episodes" in capsys.readouterr().out
    assert discover(pendulum, out, "--mask", "abs(omega) < 2", "--min-segment", "30") == 0
    text = capsys.readouterr().out
    assert "mask 'abs(omega) < 2': kept" in text and "segments too short" in text
    assert json.loads(out.read_text())["coefficients"]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--mask", "not at_limit"], "'at_limit', which is not a column"),
        (["--mask", "open('x')"], "not allowed"),
        (["--episodes", "0,a"], "episode positions"),
        (["--episodes", "9"], "names episode 9, but the data has 4 episodes"),
    ],
)
def test_bad_selections_are_clear_errors(
    pendulum: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    flags: list[str],
    message: str,
) -> None:
    assert discover(pendulum, tmp_path / "p.json", *flags) == 2
    assert message in capsys.readouterr().err


def test_order_is_a_flag_that_reaches_the_differentiation(pendulum: Path, tmp_path: Path) -> None:
    out = tmp_path / "p.json"
    args = ["--differentiation", "finite_difference", "--order", "4"]
    assert discover(pendulum, out, *args) == 0
    info = json.loads(out.read_text())["info"]
    assert info["differentiation"]["options"]["order"] == 4


def test_library_rational_generates_the_mass_matrix_terms(
    cartpole: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "c.json"
    flags = ["--library", "rational", "--threshold", "0.01", "--window", "11"]
    assert run(["discover", "--data", str(cartpole), "--out", str(out), *flags]) == 0
    assert "Denominator of d(v), d(omega)/dt" in capsys.readouterr().out
    info = json.loads(out.read_text())["info"]
    assert "cos(theta)**2" in info["rational"]["denominator"]
    settings = info["config"]
    assert settings["library"] == "none" and settings["denominator"] == "cos(theta)"
    assert "cos(theta)*omega^2*sin(theta)" in settings["features"]


def test_rational_settings_need_one_angle_or_a_denominator(cartpole: Path) -> None:
    data = simulate(system="acrobot", n_trajectories=1, duration=0.1)
    with pytest.raises(ConfigError, match=r"one angle.*Give them, e\.g\. `--denominator"):
        rational_settings({"library": "rational"}, data)
    given = {"library": "rational", "denominator": "cos(theta2)", "features": ("omega1",)}
    assert rational_settings(given, data) == {**given, "library": "none"}


def test_a_preset_gives_its_settings_and_flags_override_them(
    cartpole: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "c.json"
    common = ["discover", "--data", str(cartpole), "--out", str(out), "--preset", "full"]
    assert run([*common, "--window", "11", "--no-diagnostics"]) == 0
    config = json.loads(out.read_text())["info"]["config"]
    assert config["order"] == 4 and config["denominator"] == "cos(theta)"
    assert run([*common, "--window", "11", "--order", "2", "--no-diagnostics"]) == 0
    assert json.loads(out.read_text())["info"]["config"]["order"] == 2
    assert run([*common[:-1], "quick", "--window", "11"]) == 2
    assert "has discovery settings for [" in capsys.readouterr().err


def test_the_library_help_names_rational() -> None:
    command = typer.main.get_command(app).commands["discover"]  # type: ignore[attr-defined]
    library = next(p for p in command.params if "--library" in p.opts)
    assert "`rational`: the rational path for mass-matrix mechanics" in library.help
