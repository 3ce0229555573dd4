"""Clear errors for documents that failed validation (:class:`hybridwm.schemas.Document`).

A pydantic error becomes one sentence per problem: the file, the field's path (``metrics[3]``,
``systems['cartpole'].equations``), what it must be (the field's description when it has one)
and what it holds; missing keys are grouped per object with the keys that object needs. A
document class names itself (``what``), lists its keys (``required_keys``/``optional_keys``)
and says how to repair the file (``fix``).
"""

from __future__ import annotations

import typing
from typing import Annotated, Any

import pydantic
from pydantic import BaseModel

from hybridwm.errors import FormatError

__all__ = ["document_error"]

#: problems listed in one error message (the rest are counted)
_MAX_PROBLEMS = 3


def _is_document(model: Any) -> bool:
    """A document class: a pydantic model that names itself and its keys."""
    return (
        isinstance(model, type) and issubclass(model, BaseModel) and hasattr(model, "required_keys")
    )


def _unwrap(annotation: Any) -> Any:
    """``X`` of ``Annotated[X, ...]`` and of ``X | None``."""
    while True:
        origin = typing.get_origin(annotation)
        args = typing.get_args(annotation)
        if origin is Annotated:
            annotation = args[0]
        elif args and type(None) in args and len(args) == 2:
            annotation = next(a for a in args if a is not type(None))
        else:
            return annotation


def _walk(root: Any, loc: tuple[Any, ...]) -> list[tuple[str, Any, Any]]:
    """For each part of an error location: ``(kind, annotation, field)``, where kind is
    ``"field"`` (of a model), ``"key"`` (of a mapping) or ``"index"`` (of a list)."""
    steps: list[tuple[str, Any, Any]] = []
    annotation: Any = root
    for part in loc:
        annotation = _unwrap(annotation)
        origin, args = typing.get_origin(annotation), typing.get_args(annotation)
        field = None
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(str(part))
            kind, annotation = "field", (field.annotation if field else None)
        elif origin is dict:
            kind, annotation = "key", args[1]
        elif origin in (list, tuple):
            kind, annotation = "index", args[0] if args else None
        else:
            kind, annotation = ("index" if isinstance(part, int) else "key"), None
        steps.append((kind, annotation, field))
    return steps


def _path(loc: tuple[Any, ...], steps: list[tuple[str, Any, Any]]) -> str:
    """``metrics[3]``, ``systems['cartpole'].equations``, ..."""
    out = ""
    for part, (kind, _, _) in zip(loc, steps, strict=True):
        if kind == "field":
            out += f".{part}" if out else str(part)
        else:
            out += f"[{part}]" if kind == "index" else f"[{part!r}]"
    return out


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _missing(root: Any, parent: tuple[Any, ...], keys: list[str]) -> str:
    steps = _walk(root, parent)
    model = _unwrap(steps[-1][1]) if steps else root
    where = _path(parent, steps)
    needs = ""
    if _is_document(model):
        needs = f"; {model.what} needs {model.required_keys()}"
        if model.optional_keys():
            needs += f" (optional: {', '.join(model.optional_keys())})"
    return f"{where + ' ' if where else ''}lacks key(s) {keys}{needs}"


def _problem(root: Any, err: Any) -> str:
    """One sentence for a pydantic error that is not a missing key."""
    loc = tuple(err["loc"])
    msg = str(err["msg"]).removeprefix("Value error, ")
    steps = _walk(root, loc)
    model = _unwrap(steps[-1][1]) if steps else root
    if err["type"] == "model_type" and _is_document(model):
        return (
            f"{_path(loc, steps) or 'the top level'} must be a JSON object with keys "
            f"{model.required_keys()}. Got {_short(err['input'])}"
        )
    if not loc:  # a check across fields: its message names the place
        return msg.rstrip(".")
    last = max(i for i, (kind, _, _) in enumerate(steps) if kind == "field")
    parent = _path(loc[:last], steps[:last])
    where = f"{parent}: " if parent else ""
    name = _path(loc[last:], [("field", None, None), *steps[last + 1 :]])
    if err["type"] == "value_error":
        return f"{where}`{name}` {msg.rstrip('.')}"
    expected = msg.replace("Input should", "must", 1)
    got = _short(err["input"])
    field = steps[last][2]
    if field is None or not field.description:
        return f"{where}`{name}` {expected}. Got {got}"
    if last == len(loc) - 1:
        return f"{where}`{name}` {field.description}. Got {got}"
    # the field's own description says what the whole part must be; then the detail
    return f"{where}`{loc[last]}` {field.description} ({_path(loc, steps)} {expected}; got {got})"


def document_error(root: Any, exc: pydantic.ValidationError, source: str) -> FormatError:
    """The :class:`FormatError` for a document that failed validation: the file, each field
    with what it must be and what it holds (missing keys grouped by object), and the fix."""
    missing: dict[tuple[Any, ...], list[str]] = {}
    problems: list[str] = []
    for err in exc.errors(include_url=False):
        if err["type"] == "missing":
            missing.setdefault(tuple(err["loc"][:-1]), []).append(str(err["loc"][-1]))
        else:
            problems.append(_problem(root, err))
    problems = [_missing(root, parent, keys) for parent, keys in missing.items()] + problems
    text = "; ".join(problems[:_MAX_PROBLEMS])
    if len(problems) > _MAX_PROBLEMS:
        text += f" (and {len(problems) - _MAX_PROBLEMS} more problem(s))"
    return FormatError(f"{source}: {text}. {root.fix}")
