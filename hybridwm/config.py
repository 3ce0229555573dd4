"""Base class for the per-step configuration dataclasses (SimulateConfig, TrainConfig, ...).

A config is a frozen-free ``@dataclass`` that subclasses :class:`Config`. It can be built from a
dict, a TOML or JSON file, written next to the results of a run, and its fields map 1:1 to CLI
flags. Unknown keys raise :class:`~hybridwm.errors.ConfigError` listing the valid ones.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from hybridwm._io import atomic_write_json, to_jsonable
from hybridwm.errors import ConfigError, FormatError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

C = TypeVar("C", bound="Config")

__all__ = ["Config", "load_mapping"]


def load_mapping(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a TOML, YAML or JSON file into a dict.

    Raises:
        FormatError: if the file is missing, empty, or not valid TOML/JSON.
    """
    p = Path(path)
    if not p.is_file():
        raise FormatError(f"Config file {str(p)!r} does not exist or is not a file.")
    text = p.read_text(encoding="utf-8")
    if not text.strip():
        raise FormatError(f"Config file {str(p)!r} is empty.")
    try:
        if p.suffix.lower() == ".json":
            data = json.loads(text)
        elif p.suffix.lower() == ".toml":
            data = tomllib.loads(text)
        elif p.suffix.lower() in (".yaml", ".yml"):
            data = yaml.safe_load(text)
        else:
            raise FormatError(
                f"Config file {str(p)!r} has suffix {p.suffix!r}; expected '.toml', '.yaml', "
                f"'.yml' or '.json'."
            )
    except (json.JSONDecodeError, tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise FormatError(f"Cannot parse config file {str(p)!r}: {exc}") from None
    if not isinstance(data, dict):
        raise FormatError(f"Config file {str(p)!r} must hold a table/object at the top level.")
    return data


def _coerce(value: Any, annotation: Any, name: str) -> Any:
    """Light type coercion for values read from TOML/JSON (lists → tuples, ints → floats)."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        non_none = [a for a in args if a is not type(None)]
        if len(non_none) == 1:
            return _coerce(value, non_none[0], name)
        return value
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if origin is tuple and isinstance(value, list):
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], name) for v in value)
        return tuple(value)
    if dataclasses.is_dataclass(annotation) and isinstance(value, dict):
        return (
            annotation.from_dict(value) if issubclass(annotation, Config) else annotation(**value)
        )
    return value


@dataclasses.dataclass
class Config:
    """Mixin for configuration dataclasses: dict/TOML/JSON round trips with clear errors."""

    @classmethod
    def field_names(cls) -> list[str]:
        """Names of the config's fields, in declaration order."""
        return [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]

    @classmethod
    def from_dict(cls: type[C], data: dict[str, Any]) -> C:
        """Build a config from a mapping; unknown keys raise ``ConfigError`` listing valid ones."""
        if not isinstance(data, dict):
            raise ConfigError(f"{cls.__name__} expects a mapping. Got {type(data).__name__}.")
        valid = cls.field_names()
        unknown = sorted(set(data) - set(valid))
        if unknown:
            raise ConfigError(f"Unknown {cls.__name__} field(s) {unknown}. Valid fields: {valid}.")
        missing = [
            f.name
            for f in dataclasses.fields(cls)  # type: ignore[arg-type]
            if f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING
            and f.name not in data
        ]
        if missing:
            raise ConfigError(f"{cls.__name__} needs the field(s) {missing}; none given.")
        hints = typing.get_type_hints(cls)
        kwargs = {k: _coerce(v, hints.get(k, Any), k) for k, v in data.items()}
        return cls(**kwargs)

    @classmethod
    def from_file(cls: type[C], path: str | os.PathLike[str], *, section: str | None = None) -> C:
        """Load from a TOML, YAML or JSON file, optionally from one ``[section]`` of it."""
        data = load_mapping(path)
        if section is not None:
            if section not in data:
                raise ConfigError(
                    f"Config file {str(path)!r} has no [{section}] section. Sections: "
                    f"{sorted(k for k, v in data.items() if isinstance(v, dict))}."
                )
            data = data[section]
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-compatible dict of the fields."""
        return to_jsonable(dataclasses.asdict(self))  # type: ignore[call-overload]

    def replace(self: C, **changes: Any) -> C:
        """A copy with some fields changed (validated by ``__post_init__`` if the class has one)."""
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the config as JSON, atomically."""
        return atomic_write_json(path, self.to_dict())
