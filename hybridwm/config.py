"""Base class of every configuration and run-directory document: a pydantic model.

A config (``SimulateConfig``, ``DiscoverConfig``, ``TrainConfig``, ``BenchmarkConfig``, ...) is a
:class:`Config` subclass: fields are typed annotations with ``Field`` bounds and ``Literal``
options, so pydantic does the checking once, in one place. A config can be built from keywords
(positional arguments follow the field order), a dict, a TOML/YAML/JSON file, written next to the
results of a run, and its fields map 1:1 to CLI flags.

Every validation failure becomes a :class:`~hybridwm.errors.ConfigError` in the project's style
(argument, expected, got, fix)::

    >>> DiscoverConfig(threshold=-0.1)                         # doctest: +SKIP
    ConfigError: DiscoverConfig.threshold must be greater than or equal to 0. Got -0.1. Fix ...

A nested config part is validated by its own class, so its errors name that class
(``TrainConfig(epochs=0)`` says ``OptimConfig.epochs must be ...``).

Errors that a model validator raises on purpose (a :class:`~hybridwm.errors.HybridWMError`,
e.g. an :class:`~hybridwm.errors.UnknownNameError` listing valid names) pass through unchanged.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any, ClassVar, TypeVar

import numpy as np
import pydantic
import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from hybridwm._io import atomic_write_json, to_jsonable
from hybridwm.errors import ConfigError, FormatError, HybridWMError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

C = TypeVar("C", bound="Config")

__all__ = ["Config", "Integer", "PositiveFloat", "config_error", "load_mapping"]


def _python_int(value: Any) -> Any:
    """A numpy integer as a Python ``int``; anything else unchanged (and checked strictly)."""
    return int(value) if isinstance(value, np.integer) else value


#: An integer (Python or numpy); a bool, float or string is refused, never coerced (a ``seed`` of
#: ``True`` or ``"3"`` is a mistake, not a seed; ``2.5`` layers is not 2).
Integer = Annotated[int, BeforeValidator(_python_int), Field(strict=True)]

#: A finite number > 0 (an integer is taken as a float; a bool or string is refused).
PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False, strict=True)]


#: deepest ``[``/``{`` nesting a config file may have (counted before parsing)
MAX_NESTING = 100


def _bracket_depth(text: str) -> int:
    """The deepest nesting of ``[``/``{`` in ``text``, strings included (a config never has a
    hundred unmatched brackets in a string)."""
    depth = deepest = 0
    for ch in text:
        if ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def load_mapping(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a TOML, YAML or JSON file into a dict.

    Raises:
        FormatError: if the file is missing, empty, binary, too deeply nested, or not valid
            TOML/YAML/JSON.
    """
    p = Path(path)
    if not p.is_file():
        raise FormatError(f"Config file {str(p)!r} does not exist or is not a file.")
    suffix = p.suffix.lower()
    if suffix not in (".json", ".toml", ".yaml", ".yml"):
        raise FormatError(
            f"Config file {str(p)!r} has suffix {p.suffix!r}; expected '.toml', '.yaml', "
            f"'.yml' or '.json'."
        )
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise FormatError(
            f"Config file {str(p)!r} is not a UTF-8 text file (is it a binary file?). Pass a "
            f"TOML, YAML or JSON file."
        ) from None
    if not text.strip():
        raise FormatError(f"Config file {str(p)!r} is empty.")
    if _bracket_depth(text) > MAX_NESTING:  # refused before a parser recurses into it for seconds
        raise FormatError(
            f"Config file {str(p)!r} is nested too deeply to read (more than {MAX_NESTING} "
            f"brackets); a config is a few levels of tables at most."
        )
    try:
        if suffix == ".json":
            data = json.loads(text)
        elif suffix == ".toml":
            data = tomllib.loads(text)
        else:
            data = yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:  # JSON/TOML decode errors are ValueErrors
        raise FormatError(f"Cannot parse config file {str(p)!r}: {str(exc)[:300]}") from None
    except RecursionError:
        raise FormatError(
            f"Config file {str(p)!r} is nested too deeply to read; a config is a few levels of "
            f"tables at most."
        ) from None
    if not isinstance(data, dict):
        raise FormatError(f"Config file {str(p)!r} must hold a table/object at the top level.")
    return data


def _expected(err: dict[str, Any]) -> str:
    """pydantic's 'Input should be ...' turned into 'must be ...'."""
    msg = str(err.get("msg", "is invalid"))
    for prefix in ("Input should be ", "Input should "):
        if msg.startswith(prefix):
            return "must be " + msg[len(prefix) :]
    if msg.startswith("Value error, "):
        return msg[len("Value error, ") :]
    return msg[:1].lower() + msg[1:]


def config_error(owner: str, exc: pydantic.ValidationError) -> HybridWMError:
    """The :class:`ConfigError` for a pydantic ``ValidationError`` of ``owner``.

    A :class:`~hybridwm.errors.HybridWMError` raised inside a validator is returned as it is;
    otherwise every failed field gives one sentence: the argument, what it must be, what it got.
    """
    errors = exc.errors(include_url=False)
    for err in errors:
        inner = (err.get("ctx") or {}).get("error")
        if isinstance(inner, HybridWMError):
            return inner
    parts = []
    for err in errors:
        loc = ".".join(str(p) for p in err.get("loc", ()))
        where = f"{owner}.{loc}" if loc else owner
        got = err.get("input")
        if err.get("type") == "missing":
            parts.append(f"{where} is required; none given.")
            continue
        parts.append(f"{where} {_expected(err)}. Got {got!r}.")
    return ConfigError(" ".join(parts) + " Fix the value (see the field's documentation).")


class Config(BaseModel):
    """Base of the configuration models: dict/TOML/YAML/JSON round trips with clear errors.

    Subclasses declare fields with types, ``Field(ge=..., gt=...)`` bounds and ``Literal``
    options; cross-field checks go in ``@model_validator(mode="after")`` methods, which raise
    :class:`~hybridwm.errors.ConfigError` (or a subclass) with a message that teaches the fix.
    """

    model_config = ConfigDict(
        extra="forbid",
        validate_assignment=True,
        validate_default=False,
        arbitrary_types_allowed=False,
        protected_namespaces=(),
        ser_json_inf_nan="strings",
    )

    #: extra words for the 'Unknown field' error of a subclass (e.g. where the fields are listed)
    unknown_hint: ClassVar[str] = ""

    def __init__(self, *args: Any, **data: Any) -> None:
        cls = type(self)
        names = cls.field_names()
        if len(args) > len(names):
            raise ConfigError(
                f"{cls.__name__} takes at most {len(names)} positional arguments ({names}). Got "
                f"{len(args)}; pass settings by name."
            )
        for name, value in zip(names, args, strict=False):
            if name in data:
                raise ConfigError(f"{cls.__name__}.{name} is given twice (by position and name).")
            data[name] = value
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ConfigError(
                f"Unknown {cls.__name__} field(s) {unknown}. Valid fields: {names}."
                + (f" {cls.unknown_hint}" if cls.unknown_hint else "")
            )
        try:
            super().__init__(**data)
        except pydantic.ValidationError as exc:
            raise config_error(cls.__name__, exc) from None

    def __setattr__(self, name: str, value: Any) -> None:
        before = dict(self.__dict__)
        try:
            super().__setattr__(name, value)
        except (pydantic.ValidationError, HybridWMError) as exc:
            # a model validator runs after the field is set: put every field back as it was
            self.__dict__.clear()
            self.__dict__.update(before)
            if isinstance(exc, HybridWMError):
                raise
            raise config_error(type(self).__name__, exc) from None

    @classmethod
    def field_names(cls) -> list[str]:
        """Names of the config's fields, in declaration order."""
        return list(cls.model_fields)

    @classmethod
    def from_dict(cls: type[C], data: dict[str, Any]) -> C:
        """Build a config from a mapping; unknown keys raise ``ConfigError`` listing valid ones."""
        if not isinstance(data, dict):
            raise ConfigError(f"{cls.__name__} expects a mapping. Got {type(data).__name__}.")
        missing = [
            name for name, f in cls.model_fields.items() if f.is_required() and name not in data
        ]
        unknown = sorted(set(data) - set(cls.field_names()))
        if missing and not unknown:
            raise ConfigError(f"{cls.__name__} needs the field(s) {missing}; none given.")
        return cls(**data)

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
        """A JSON-compatible dict of the fields (nested configs as dicts)."""
        return to_jsonable(self.model_dump(mode="python"))  # type: ignore[no-any-return]

    def replace(self: C, **changes: Any) -> C:
        """A validated copy with some fields changed."""
        data = {name: getattr(self, name) for name in self.field_names()}
        data.update(changes)
        return type(self)(**data)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the config as JSON, atomically."""
        return atomic_write_json(path, self.to_dict())
