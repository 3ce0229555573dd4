"""The command-line flags: every config field is a flag, generated from the config models, with
its documentation as help; the shared data options; the flag helpers' errors."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
import typer
from pydantic import Field
from typer.testing import CliRunner

import hybridwm.cli
from hybridwm.cli import app, parse_params, run
from hybridwm.cli.collect import CollectConfig
from hybridwm.cli.flags import (
    build_config,
    config_flags,
    settings_of,
    split_names,
    with_parameters,
)
from hybridwm.cli.reading import DataOptions
from hybridwm.config import Config
from hybridwm.errors import ConfigError, FormatError
from hybridwm.models import ModelSpec
from hybridwm.physics import DiscoverConfig
from hybridwm.systems import SimulateConfig
from hybridwm.training import TrainConfig

#: config fields that are deliberately not flags of their command, and why
NOT_FLAGS: dict[str, dict[str, str]] = {
    "simulate": {},
    "collect": {},
    "discover": {},
    "fit": {
        "kind": "`--model` names the kind",
        "residual": "an MLP spec: `--hidden` gives its widths",
        "encoder": "an MLP spec whose default fits every model so far",
    },
}
#: fields whose flag is not `--field-name`
RENAMED = {
    "simulate": {"params": "--param"},
    "collect": {"env_params": "--env-param"},
    "fit": {"solver": "--train-solver"},  # `--solver` is ModelSpec.solver, the model's own
}

CONFIGS: dict[str, list[str]] = {
    "simulate": SimulateConfig.field_names(),
    "collect": CollectConfig.field_names(),
    "discover": DiscoverConfig.field_names(),
    "fit": TrainConfig.flat_field_names() + ModelSpec.field_names(),
}


def command(name: str) -> Any:
    """The click command of ``hybridwm <name>``."""
    return typer.main.get_command(app).commands[name]  # type: ignore[attr-defined]


def flags_of(name: str) -> set[str]:
    return {flag for p in command(name).params for flag in p.opts + p.secondary_opts}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_every_config_field_is_a_flag(name: str) -> None:
    renamed = RENAMED.get(name, {})
    wanted = {
        field: renamed.get(field, "--" + field.replace("_", "-"))
        for field in CONFIGS[name]
        if field not in NOT_FLAGS[name]
    }
    missing = {field: flag for field, flag in wanted.items() if flag not in flags_of(name)}
    assert not missing
    assert set(NOT_FLAGS[name]) <= set(CONFIGS[name])  # no stale exceptions


def test_special_flags() -> None:
    fit = flags_of("fit")
    assert {"--solver", "--train-solver", "--validation", "--model", "--hidden"} <= fit
    assert {"--trainable-physics", "--no-trainable-physics", "--no-angles"} <= fit
    assert {"--progress", "--no-progress", "--patience", "--physics-lr", "--init-window"} <= fit
    assert {"--features", "--feature", "--order"} <= flags_of("discover")
    assert "--params" not in flags_of("simulate")


def test_help_comes_from_the_config_docs(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    assert run(["fit", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.replace("│", " ").split())
    assert "Stop after this many optimizer steps without a better validation" in out  # patience
    assert "cosine|plateau|constant" in out  # a Literal's options as metavar
    assert "Training (TrainConfig)" in out and "Reading the data" in out
    assert run(["discover", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.replace("│", " ").split())
    assert "Finite-difference accuracy order" in out  # order


class Example(Config):
    """An example config.

    Args:
        lr: learning rate of the
            optimizer (peak). More words.
        mode: how it runs.
        names: the names.
        box: per name, ``(low, high)``; see :class:`~hybridwm.data.TrajectorySet`.
        verbose: talk.
    """

    lr: float = Field(1e-3, gt=0)
    mode: Literal["a", "b"] = "a"
    names: tuple[str, ...] = ()
    box: dict[str, tuple[float, float]] | None = None
    verbose: bool = False


def test_settings_of_reads_types_defaults_and_docs() -> None:
    settings = {s.name: s for s in settings_of(Example)}
    assert list(settings) == ["lr", "mode", "names", "box", "verbose"]
    assert settings["lr"].default == 1e-3
    assert settings["lr"].doc == "learning rate of the optimizer (peak). More words."
    flat = {s.name: s for s in settings_of(TrainConfig, TrainConfig.flat_fields())}
    assert flat["steps"].default is None and "The budget in optimizer steps" in flat["steps"].doc


def test_generated_flags_parse_into_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    seen: dict[str, Any] = {}

    @config_flags(Example, panel="Example", defaults={"verbose": True})
    def cmd(*, settings: dict[str, Any]) -> None:
        seen.update(settings)

    cli = typer.Typer()
    cli.command()(cmd)
    cli.command("other")(lambda: None)
    runner = CliRunner()
    args = ["cmd", "--lr", "0.5", "--names", "a,b", "--names", "c", "--box", "x=-1,2"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert seen == {"lr": 0.5, "names": ["a", "b", "c"], "box": {"x": (-1.0, 2.0)}, "verbose": True}
    assert Example.from_dict(seen).box == {"x": (-1.0, 2.0)}
    seen.clear()
    assert runner.invoke(cli, ["cmd", "--no-verbose"]).exit_code == 0
    assert seen == {"verbose": False}
    help_text = runner.invoke(cli, ["cmd", "--help"]).output
    assert "Learning rate of the optimizer (peak)." in help_text and "More words" not in help_text
    assert "a|b" in help_text and "`TrajectorySet`" in help_text


def test_build_config_lays_flags_over_the_file(tmp_path: Path) -> None:
    path = tmp_path / "sim.toml"
    path.write_text('system = "cartpole"\nseed = 3\n[params]\npole_mass = 0.2\n')
    cfg = build_config(SimulateConfig, path, {"seed": 4, "params": {"cart_mass": 1.5}})
    assert (cfg.system, cfg.seed) == ("cartpole", 4)
    assert cfg.params == {"pole_mass": 0.2, "cart_mass": 1.5}
    assert build_config(SimulateConfig, None, {}).system == "pendulum"


def test_flags_override_the_nested_parts_of_a_train_config_file(tmp_path: Path) -> None:
    path = tmp_path / "train.toml"
    path.write_text("[optim]\nepochs = 5\nlr = 0.01\n[validation]\npatience = 4\n")
    cfg = build_config(TrainConfig, path, {"epochs": 2, "residual_weight": 0.5})
    assert (cfg.epochs, cfg.lr, cfg.patience, cfg.residual_weight) == (2, 0.01, 4, 0.5)


def test_invalid_flag_values_get_the_config_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["fit", "--data", "x.csv", "--out", "m", "--lr-schedule", "sawtooth"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "lr_schedule" in err and "'sawtooth'" in err and "cosine" in err


def test_a_flag_named_like_a_parameter_of_the_command_is_refused() -> None:
    def cmd(lr: float = 1.0, *, settings: dict[str, Any]) -> None: ...

    with pytest.raises(TypeError, match=r"Command 'cmd' already has the parameter\(s\) \['lr'\]"):
        config_flags(Example, panel="x")(cmd)


def test_with_parameters_passes_one_object() -> None:
    param = inspect.Parameter(
        "n", inspect.Parameter.KEYWORD_ONLY, default=1, annotation=Annotated[int, typer.Option()]
    )

    @with_parameters([param], "double", lambda values: 2 * values["n"])
    def cmd(*, double: int) -> int:
        return double

    assert list(inspect.signature(cmd).parameters) == ["n"]
    assert cmd(n=4) == 8


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (["mass"], "`--param` must look like NAME=VALUE"),
        (["=1"], "must look like NAME=VALUE"),
        (["mass=heavy"], r"`--param mass` must be a number .* Got 'heavy'"),
        (["box=1,x"], r"must be a number \(or comma-separated numbers\)"),
    ],
)
def test_parse_params_errors(items: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_params(items)


def test_parse_params() -> None:
    assert parse_params(["mass=1.5", " damping = 0.2"]) == {"mass": 1.5, "damping": 0.2}
    assert parse_params(["theta=-3,3"], "--collocation-box") == {"theta": (-3.0, 3.0)}
    assert split_names(["a,b", " c "]) == ["a", "b", "c"] and split_names(None) is None


# ---------------------------------------------------------------------------------- reading
CSV = "run,time_ms,angle,cmd\nr0,0,0.1,0.0\nr0,50,0.2,0.5\nr0,100,0.3,0.5\n"


def test_data_options_read_a_foreign_file_through_flags(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text(CSV)
    opts = DataOptions(time="time_ms", states=("angle",), actions=("cmd",), time_scale=0.001)
    ts = opts.read(path)
    assert ts.state_names == ("angle",) and ts[0].t[-1] == pytest.approx(0.1)
    assert ts[0].meta["columns"]["time"] == "time_ms"


def test_data_options_use_a_model_mapping_under_the_flags(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text(CSV)
    mapping = {"time": "time_ms", "states": ["angle"], "actions": ["cmd"], "time_scale": 0.001}
    ts = DataOptions().read(path, model_columns=mapping)
    assert ts.state_names == ("angle",) and ts[0].t[-1] == pytest.approx(0.1)
    ts = DataOptions(time_scale=1.0).read(path, model_columns=mapping)  # the flag wins
    assert ts[0].t[-1] == pytest.approx(100.0)


def test_data_options_name_the_flags_for_a_foreign_file(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text(CSV)
    with pytest.raises(FormatError, match=r"log.csv has no hybridwm schema.*--time t --states a,b"):
        DataOptions().read(path)
    with pytest.raises(FormatError, match=r"`--columns FILE`") as info:
        DataOptions().read(path)
    assert "ColumnMapping(" not in str(info.value)  # flags, not Python syntax
    with pytest.raises(ConfigError, match=r"log.csv with a column mapping needs --time"):
        DataOptions(states=("angle",)).read(path)


def test_the_cli_uses_the_public_api_only() -> None:
    """`hybridwm.cli` imports no private (`_`-prefixed) module or name of the library."""
    private = []
    for path in sorted(Path(hybridwm.cli.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("hybridwm"):
                names = [node.module or "", *(a.name for a in node.names)]
                parts = [p for name in names for p in name.split(".")]
                private += [f"{path.name}: {node.module}" for p in parts if p.startswith("_")]
    assert not private
