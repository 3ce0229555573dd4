"""The Config base class: dict/TOML/YAML/JSON round trips and clear errors."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from hybridwm.config import Config, load_mapping
from hybridwm.errors import ConfigError, FormatError


@dataclass
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


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("missing.toml", None, "does not exist"),
        ("empty.toml", "  \n", "is empty"),
        ("bad.toml", "lr = = 1", "Cannot parse config file"),
        ("bad.yaml", "lr: [1, 2", "Cannot parse config file"),
        ("cfg.ini", "lr=1", "expected '.toml', '.yaml'"),
        ("list.json", "[1, 2]", "must hold a table"),
    ],
)
def test_load_mapping_errors(tmp_path: Path, name: str, text: str | None, message: str) -> None:
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    with pytest.raises(FormatError, match=message):
        load_mapping(path)


@dataclass
class NeedsName(Config):
    name: str
    size: int = 1


def test_missing_required_field_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"NeedsName needs the field\(s\) \['name'\]"):
        NeedsName.from_dict({"size": 2})
