"""Command-line flags generated from the config models, so that every setting is a flag.

A step's config (:class:`~hybridwm.systems.SimulateConfig`,
:class:`~hybridwm.physics.DiscoverConfig`, :class:`~hybridwm.training.TrainConfig`) is the one
place where its settings, their types, defaults, bounds and documentation live. The decorator
:func:`config_flags` turns each settable field into a typer option (``--field-name``) whose help
is the first sentence of the field's documentation; the command receives the flags the user gave
as a dict and :func:`build_config` lays them over a ``--config`` file. Checking the values is the
config's job, so an invalid flag gives the config's own error.

:func:`with_parameters` is the mechanism underneath: it adds keyword parameters to a command's
signature (which typer reads) and hands the command one object built from them. The shared data
options (:mod:`hybridwm.cli.reading`) use it too.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import os
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, Literal, TypeVar

import typer
from pydantic.fields import FieldInfo
from rich.markup import escape

from hybridwm.config import Config, load_mapping
from hybridwm.errors import ConfigError

__all__ = [
    "Setting",
    "build_config",
    "config_flags",
    "parse_params",
    "settings_of",
    "split_names",
    "with_parameters",
]

C = TypeVar("C", bound=Config)
F = TypeVar("F", bound=Callable[..., Any])
KEYWORD = inspect.Parameter.KEYWORD_ONLY


def split_names(values: Sequence[str] | None) -> list[str] | None:
    """Accept both ``--angles a --angles b`` and ``--angles a,b``; ``None`` when none given."""
    if not values:
        return None
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


def parse_params(items: Sequence[str] | None, flag: str = "--param") -> dict[str, Any]:
    """Parse ``["mass=1.2", "box=-3,3"]`` into ``{"mass": 1.2, "box": (-3.0, 3.0)}``.

    Args:
        items: ``NAME=VALUE`` strings; a VALUE with commas becomes a tuple of numbers.
        flag: the flag the items came from, named in the errors.

    Raises:
        ConfigError: if an item is not ``NAME=NUMBER`` (or ``NAME=NUMBER,NUMBER,...``).
    """
    out: dict[str, Any] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"`{flag}` must look like NAME=VALUE (e.g. mass=1.2). Got {item!r}.")
        try:
            numbers = tuple(float(v) for v in value.split(","))
        except ValueError:
            raise ConfigError(
                f"`{flag} {name.strip()}` must be a number (or comma-separated numbers). Got "
                f"{value!r} in {item!r}."
            ) from None
        out[name.strip()] = numbers[0] if len(numbers) == 1 else numbers
    return out


def with_parameters(
    params: Sequence[inspect.Parameter], into: str, build: Callable[[dict[str, Any]], Any]
) -> Callable[[F], F]:
    """Decorator: add keyword ``params`` to a command; it receives ``build(values)`` as ``into``.

    typer reads a command's options from its signature; the decorated command's signature is its
    own parameters (less ``into``) followed by ``params``.

    Raises:
        TypeError: if a parameter name is already a parameter of the command.
    """

    def decorate(func: F) -> F:
        own = inspect.signature(func, eval_str=True)
        kept = [p.replace(kind=KEYWORD) for p in own.parameters.values() if p.name != into]
        clash = sorted({p.name for p in kept} & {p.name for p in params})
        if clash:
            raise TypeError(
                f"Command {func.__name__!r} already has the parameter(s) {clash}; give the "
                f"generated flag another name (the `decls` of config_flags)."
            )
        names = [p.name for p in params]

        @functools.wraps(func)
        def command(**kwargs: Any) -> Any:
            values = {name: kwargs.pop(name) for name in names}
            return func(**kwargs, **{into: build(values)})

        del command.__wrapped__  # typer must read the new signature, not func's
        command.__signature__ = own.replace(parameters=[*kept, *params])  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in [*kept, *params]}
        return command  # type: ignore[return-value]

    return decorate


# ---------------------------------------------------------------------------------- settings
@dataclasses.dataclass(frozen=True)
class Setting:
    """One settable field of a config: what a flag needs to know about it.

    Attributes:
        name: the field name, a key of the config's ``from_dict``.
        annotation: the field's type.
        default: the field's default value.
        doc: the field's documentation (one line).
    """

    name: str
    annotation: Any
    default: Any
    doc: str


_DOC_ENTRY = re.compile(r"^(\s*)(\w+): (.*)$")


def field_docs(config: type[Config]) -> dict[str, str]:
    """The Google-style entries (``name: text``, indented continuation) of a config docstring."""
    names = set(config.model_fields)
    docs: dict[str, str] = {}
    current, indent = "", 0
    for line in inspect.cleandoc(config.__doc__ or "").splitlines():
        depth = len(line) - len(line.lstrip())
        match = _DOC_ENTRY.match(line)
        if current and line.strip() and depth > indent:
            docs[current] += " " + line.strip()
        elif match and match.group(2) in names:
            current, indent = match.group(2), len(match.group(1))
            docs[current] = match.group(3).strip()
        else:
            current = ""
    return docs


def settings_of(
    config: type[Config], fields: Mapping[str, FieldInfo] | None = None
) -> list[Setting]:
    """The settable fields of a config, in declaration order.

    Args:
        config: the config model.
        fields: its settable fields, when they are not its ``model_fields`` (e.g.
            ``TrainConfig.flat_fields()``, the settings of its nested parts by their flat names).
    """
    docs = field_docs(config)
    return [
        Setting(
            name,
            info.annotation,
            info.get_default(call_default_factory=True),
            info.description or docs.get(name, ""),
        )
        for name, info in (fields if fields is not None else config.model_fields).items()
    ]


def _drop_long_asides(text: str, limit: int = 60) -> str:
    """``text`` without its parenthesized asides longer than ``limit`` characters."""
    out: list[str] = []
    opened: list[int] = []
    for ch in text:
        if ch == "(":
            opened.append(len(out))
        out.append(ch)
        if ch == ")" and opened:
            start = opened.pop()
            if len(out) - start > limit:
                del out[start:]
                while out and out[-1] == " ":
                    out.pop()
    return "".join(out)


def _summary(doc: str) -> str:
    """A field doc as help text: its first sentence without long asides, rich markup escaped."""
    text = re.sub(r":\w+:`(~[\w.]*\.)?([^`]+)`", r"`\2`", " ".join(doc.split()))
    text = re.sub(r'`"([^`"]*)"`', r"`\1`", text.replace("``", "`"))
    first = re.split(r"(?<=\.)\s+(?=[A-Z])", _drop_long_asides(text), maxsplit=1)[0]
    if first and not first.endswith("."):
        first += "."
    return escape(first[:1].upper() + first[1:])


def _flag_type(annotation: Any) -> tuple[Any, str | None, Callable[[Any], Any]]:
    """The CLI type of a field type, its metavar, and the converter of the parsed value."""
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin is Annotated or (origin in (typing.Union, types.UnionType) and len(args) == 1):
        return _flag_type(args[0])
    if origin is Literal:
        return str, "|".join(str(a) for a in typing.get_args(annotation)), _same
    if annotation in (bool, int, float, str):
        return annotation, None, _same
    if origin in (dict, Mapping):
        return list[str], "NAME=VALUE", parse_params
    if origin in (tuple, list, Sequence):
        return list[str], "A,B,...", split_names
    return str, None, _same


def _same(value: Any) -> Any:
    return value


def config_flags(
    config: type[Config],
    *,
    panel: str,
    fields: Mapping[str, FieldInfo] | None = None,
    decls: Mapping[str, Sequence[str]] | None = None,
    defaults: Mapping[str, Any] | None = None,
    helps: Mapping[str, str] | None = None,
    into: str = "settings",
) -> Callable[[F], F]:
    """Decorator: one option per setting of ``config``; the command gets the given ones as a
    dict (field name → value; flags not given are left out) in its parameter ``into``.

    Args:
        config: the step's config model.
        panel: the help panel that lists the options.
        fields: the settable fields, when they are not ``config.model_fields`` (see
            :func:`settings_of`).
        decls: option names of some fields instead of ``--field-name`` (e.g. to keep a short
            or singular form such as ``--param``, or to tell two configs' fields of the same name
            apart); the first one names the command's parameter.
        defaults: command-line defaults that differ from the config's (then always applied,
            like a flag given).
        helps: text added to the help of some fields (what the command adds to the config,
            e.g. a library name it translates).
        into: the command's parameter that receives the dict.
    """
    decls, defaults, helps = decls or {}, defaults or {}, helps or {}
    params, fields_of = [], {}
    for s in settings_of(config, fields):
        kind, metavar, convert = _flag_type(s.annotation)
        names = list(decls.get(s.name, ["--" + s.name.replace("_", "-")]))
        name = names[0].lstrip("-").replace("-", "_")  # the parameter is named after the flag
        fields_of[name] = s.name, convert
        if kind is bool:
            names = [f"{names[0]}/--no-{names[0][2:]}", *names[1:]]
        shown = defaults.get(s.name, s.default)
        text = _summary(s.doc) + escape(helps.get(s.name, ""))
        if shown not in (None, (), {}):
            text += " " + escape(f"[default: {shown}]")
        option = typer.Option(
            *names, help=text, metavar=metavar, rich_help_panel=panel, show_default=False
        )
        annotation = Annotated[kind if s.name in defaults else kind | None, option]
        default = defaults.get(s.name)
        params.append(inspect.Parameter(name, KEYWORD, default=default, annotation=annotation))

    def given(values: dict[str, Any]) -> dict[str, Any]:
        return {
            fields_of[k][0]: fields_of[k][1](v)
            for k, v in values.items()
            if v is not None and v != []
        }

    return with_parameters(params, into, given)


def build_config(
    config: type[C], path: str | os.PathLike[str] | None, settings: Mapping[str, Any]
) -> C:
    """The step's config: the ``--config`` file (if any) with the flags given laid over it (a
    mapping flag such as ``--param`` adds to the file's mapping)."""
    data = load_mapping(path) if path is not None else {}
    for key, value in settings.items():
        old = data.get(key)
        data[key] = {**old, **value} if isinstance(old, dict) and isinstance(value, dict) else value
    return config.from_dict(data)
