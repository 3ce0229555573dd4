"""The Config base class: dict/TOML/YAML/JSON round trips and clear errors."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pytest
from pydantic import Field, model_validator

from hybridwm.config import Config, Integer, PositiveFloat, load_mapping
from hybridwm.errors import ConfigError, FormatError, UnknownNameError


class Example(Config):
    lr: float = 1e-3
    hidden: tuple[int, ...] = (64, 64)
    name: str | None = None


def test_from_dict_coerces_lists_and_ints() -> None:
    cfg = Example.from_dict({"lr": 1, "hidden": [8, 8, 8]})
    assert cfg.lr == 1.0 and isinstance(cfg.lr, float)
    assert cfg.hidden == (8, 8, 8)


def test_unknown_field_lists_valid_fields() -> None:
    with pytest.raises(ConfigError, match=r"Unknown Example field\(s\) \['epochs'\]. Valid fields"):
        Example.from_dict({"epochs": 3})


@pytest.mark.parametrize(
    ("suffix", "text"),
    [
        (".toml", "lr = 0.5\nhidden = [4]\n[other]\nx = 1\n"),
        (".yaml", "lr: 0.5\nhidden: [4]\nother: {x: 1}\n"),
        (".json", '{"lr": 0.5, "hidden": [4], "other": {"x": 1}}'),
    ],
)
def test_file_round_trip(tmp_path: Path, suffix: str, text: str) -> None:
    path = tmp_path / f"cfg{suffix}"
    path.write_text(text)
    data = load_mapping(path)
    data.pop("other")
    cfg = Example.from_dict(data)
    assert cfg == Example(lr=0.5, hidden=(4,))
    cfg.save(tmp_path / "saved.json")
    assert Example.from_file(tmp_path / "saved.json") == cfg


def test_section(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[train]\nlr = 0.1\n")
    assert Example.from_file(path, section="train").lr == 0.1
    with pytest.raises(ConfigError, match=r"has no \[fit\] section. Sections: \['train'\]"):
        Example.from_file(path, section="fit")


def test_load_mapping_refuses_a_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "cfg.toml"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00")
    with pytest.raises(FormatError, match=r"is not a UTF-8 text file"):
        load_mapping(path)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("missing.toml", None, "does not exist"),
        ("empty.toml", "  \n", "is empty"),
        ("bad.toml", "lr = = 1", "Cannot parse config file"),
        ("bad.yaml", "lr: [1, 2", "Cannot parse config file"),
        ("cfg.ini", "lr=1", "expected '.toml', '.yaml'"),
        ("list.json", "[1, 2]", "must hold a table"),
        ("deep.json", "[" * 100_000 + "]" * 100_000, "nested too deeply|Cannot parse"),
    ],
)
def test_load_mapping_errors(tmp_path: Path, name: str, text: str | None, message: str) -> None:
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    with pytest.raises(FormatError, match=message):
        load_mapping(path)


class NeedsName(Config):
    name: str
    size: int = 1


def test_missing_required_field_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"NeedsName needs the field\(s\) \['name'\]"):
        NeedsName.from_dict({"size": 2})


class Bounded(Config):
    epochs: int = Field(default=10, ge=1)
    schedule: Literal["cosine", "constant"] = "cosine"
    hidden: tuple[int, ...] = (8,)


def test_field_bound_error_names_argument_expected_and_got() -> None:
    with pytest.raises(
        ConfigError, match=r"Bounded.epochs must be greater than or equal to 1. Got 0"
    ):
        Bounded(epochs=0)


def test_literal_error_lists_options() -> None:
    with pytest.raises(ConfigError, match=r"Bounded.schedule must be 'cosine' or 'constant'"):
        Bounded(schedule="linear")


def test_fractional_width_is_refused_not_truncated() -> None:
    with pytest.raises(ConfigError, match=r"Bounded.hidden.0 must be a valid integer"):
        Bounded(hidden=(2.5,))


def test_positional_arguments_follow_field_order() -> None:
    assert Bounded(3).epochs == 3
    with pytest.raises(ConfigError, match=r"takes at most 3 positional arguments"):
        Bounded(1, "cosine", (1,), 4)
    with pytest.raises(ConfigError, match=r"Bounded.epochs is given twice"):
        Bounded(3, epochs=4)


def test_assignment_is_validated() -> None:
    cfg = Bounded()
    with pytest.raises(ConfigError, match=r"Bounded.epochs must be greater than or equal to 1"):
        cfg.epochs = -2
    assert cfg.epochs == 10


def test_replace_validates_and_keeps_other_fields() -> None:
    cfg = Bounded(epochs=5).replace(schedule="constant")
    assert (cfg.epochs, cfg.schedule) == (5, "constant")
    with pytest.raises(ConfigError, match=r"Bounded\.epochs"):
        cfg.replace(epochs=0)
    with pytest.raises(ConfigError, match=r"Unknown Bounded field\(s\) \['foo'\]"):
        cfg.replace(foo=1)


class Picky(Config):
    name: str = "a"

    @model_validator(mode="after")
    def _known(self) -> Picky:
        if self.name not in ("a", "b"):
            raise UnknownNameError(f"Unknown name {self.name!r}. Valid names: ['a', 'b'].")
        return self


def test_project_errors_raised_in_validators_pass_through() -> None:
    with pytest.raises(UnknownNameError, match=r"Unknown name 'c'. Valid names: \['a', 'b'\]"):
        Picky(name="c")


class Window(Config):
    low: float = 0.0
    high: float = 1.0

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if not self.low < self.high:
            raise ConfigError(f"Window.low must be < high. Got low={self.low}, high={self.high}.")
        return self


def test_failed_assignment_leaves_the_config_unchanged() -> None:
    w = Window()
    with pytest.raises(ConfigError, match=r"Window.low must be < high"):
        w.low = 5.0
    assert (w.low, w.high) == (0.0, 1.0)


class Counted(Config):
    n: Integer = 1
    rate: PositiveFloat = 1.0


@pytest.mark.parametrize("bad", [True, "3", 2.5])
def test_integer_fields_refuse_bools_strings_and_fractions(bad: object) -> None:
    with pytest.raises(ConfigError, match=r"Counted.n must be a valid integer"):
        Counted(n=bad)


def test_integer_fields_take_numpy_integers_and_floats_take_ints() -> None:
    c = Counted(n=np.int64(4), rate=2)
    assert c.n == 4 and type(c.n) is int and c.rate == 2.0
    with pytest.raises(ConfigError, match=r"Counted.rate must be greater than 0"):
        Counted(rate=0.0)
