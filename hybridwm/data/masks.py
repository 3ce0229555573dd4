"""Masks: keep some rows or episodes of a TrajectorySet, splitting episodes at dropped rows.

A row mask is an expression over the columns of each episode, e.g. ``"not at_limit"`` or
``"abs(theta) < 1.5 and not in_contact"``; the rows where it is true are kept. An episode
whose rows are dropped in the middle becomes several *segments*, each a trajectory of its own,
so that no derivative, window or integration step is ever taken across a gap. Segments shorter
than ``min_samples`` are dropped (a derivative needs a few samples).

The names an expression may use are, per episode:

* ``t``, the state names and the action names: the columns of the data;
* the events recorded per sample by ``simulate`` of a MuJoCo model, stored in
  ``meta["events"]`` (see :func:`encode_events`): ``at_limit`` (a joint limit is active) and
  ``in_contact`` (a contact is active), true on the rows they touch;
* ``episode``: the position of the episode in the data as read (0-based), which an episode
  keeps through :func:`select_episodes` and masks (in ``meta["segment"]["episode"]``).

Every trajectory these functions return records where it came from in
``meta["segment"] = {"episode": ..., "start": ..., "stop": ...}``: its episode's position and
its rows ``start:stop`` there.

Expressions are parsed with :mod:`ast` and evaluated by a small interpreter over numpy arrays:
only names, numbers, ``True``/``False``, arithmetic (``+ - * / **``), comparisons, ``and``,
``or``, ``not`` and the functions ``abs``, ``sin``, ``cos`` are allowed, so no code is ever
executed, and the expression's length and nesting are bounded.

Example:
    >>> kept = mask_rows(data, "not at_limit")            # doctest: +SKIP
    >>> kept = select_episodes(data, exclude=[0, 3])      # doctest: +SKIP
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hybridwm.data.episode import MIN_SAMPLES, Trajectory
from hybridwm.data.trajectory import TrajectorySet
from hybridwm.errors import ConfigError, DataError, ParseError, UnknownNameError

__all__ = [
    "MAX_MASK_LENGTH",
    "MaskResult",
    "decode_events",
    "encode_events",
    "keep_rows",
    "mask_rows",
    "row_columns",
    "select_episodes",
]

#: Longest mask expression accepted, in characters.
MAX_MASK_LENGTH = 1000
#: Deepest nesting of a mask expression's syntax tree.
_MAX_DEPTH = 50

_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
}
_COMPARE: dict[type, Callable[[Any, Any], Any]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}
_FUNCTIONS: dict[str, Callable[[Any], Any]] = {"abs": np.abs, "sin": np.sin, "cos": np.cos}


# ---------------------------------------------------------------------------- events
def encode_events(flags: Mapping[str, np.ndarray]) -> dict[str, list[bool]]:
    """Per-sample boolean events as JSON lists, for ``meta["events"]``.

    Args:
        flags: event name → (T,) booleans, true on the samples where the event holds.

    Returns:
        event name → a list of T booleans (what ``meta["events"]`` holds and files store).
    """
    return {str(name): np.asarray(f, dtype=bool).tolist() for name, f in flags.items()}


def decode_events(trajectory: Trajectory) -> dict[str, np.ndarray]:
    """The events of ``trajectory.meta["events"]`` as (T,) boolean arrays (none: ``{}``).

    Raises:
        DataError: if ``meta["events"]`` is not a mapping of names to one boolean per sample.
    """
    raw = trajectory.meta.get("events") or {}
    n = len(trajectory)
    out: dict[str, np.ndarray] = {}
    try:
        for name, flags in dict(raw).items():
            out[str(name)] = np.asarray(flags, dtype=bool)
    except (TypeError, ValueError):
        out = {}
    if (not out and raw) or any(f.shape != (n,) for f in out.values()):
        raise DataError(
            f"`meta['events']` of a trajectory of {n} samples must map event names to {n} "
            f"booleans, one per sample (as encode_events writes). Got {str(raw)[:200]}; remove "
            f"it or rewrite it."
        )
    return out


def _position(trajectory: Trajectory, position: int) -> int:
    """The position of ``trajectory``'s episode in the data as read (see the module doc)."""
    return int((trajectory.meta.get("segment") or {}).get("episode", position))


def _slice_meta(trajectory: Trajectory, position: int, start: int, stop: int) -> dict[str, Any]:
    """``meta`` of the rows ``start:stop``: events sliced, the segment recorded."""
    meta = trajectory.meta
    out = dict(meta)
    if meta.get("events"):
        out["events"] = {name: list(f)[start:stop] for name, f in meta["events"].items()}
    offset = int((meta.get("segment") or {}).get("start", 0))
    out["segment"] = {
        "episode": _position(trajectory, position),
        "start": offset + start,
        "stop": offset + stop,
    }
    return out


# ---------------------------------------------------------------------------- expressions
def row_columns(trajectory: Trajectory, episode: int) -> dict[str, np.ndarray]:
    """The (T,) columns a mask expression can name for one episode (see the module doc)."""
    n = len(trajectory)
    cols: dict[str, np.ndarray] = {"t": trajectory.t, "episode": np.full(n, episode)}
    cols.update(zip(trajectory.state_names, trajectory.x.T, strict=True))
    cols.update(zip(trajectory.action_names, trajectory.u.T, strict=True))
    for name, f in decode_events(trajectory).items():
        cols.setdefault(name, f)
    return cols


def _parse(expression: str) -> ast.Expression:
    if not isinstance(expression, str) or not expression.strip():
        raise ConfigError(
            f"A mask must be an expression over the columns, e.g. 'not at_limit'. Got "
            f"{expression!r}."
        )
    if len(expression) > MAX_MASK_LENGTH:
        raise ParseError(
            f"The mask expression is {len(expression)} characters long; at most "
            f"{MAX_MASK_LENGTH} are accepted. Split it or select episodes instead."
        )
    try:
        return ast.parse(expression.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        problem = str(exc)
    raise ParseError(
        f"Cannot parse the mask {expression!r}: {problem}. Write it like "
        f"'not at_limit and abs(theta) < 1.5'."
    )


@dataclass(frozen=True)
class _Evaluator:
    """Evaluates a parsed mask on the columns of one episode."""

    columns: Mapping[str, np.ndarray]
    expression: str

    def refuse(self, node: ast.AST) -> ParseError:
        part = ast.get_source_segment(self.expression, node) or type(node).__name__
        return ParseError(
            f"The mask {self.expression!r} uses {part!r}, which is not allowed. A mask may use "
            f"column names, numbers, + - * / **, comparisons, and/or/not and abs/sin/cos."
        )

    def __call__(self, node: ast.AST, depth: int = 0) -> Any:
        if depth > _MAX_DEPTH:
            raise ParseError(f"The mask {self.expression!r} is nested too deeply; simplify it.")
        handler = _HANDLERS.get(type(node))
        if handler is None:
            raise self.refuse(node)
        return handler(self, node, depth + 1)

    def expression_(self, node: ast.Expression, depth: int) -> Any:
        return self(node.body, depth)

    def constant(self, node: ast.Constant, depth: int) -> Any:
        if isinstance(node.value, bool):
            return node.value
        if isinstance(node.value, (int, float)):
            return float(node.value)
        raise self.refuse(node)

    def name(self, node: ast.Name, depth: int) -> Any:
        return self.column(node.id)

    def boolean(self, node: ast.BoolOp, depth: int) -> Any:
        values = [np.asarray(self(v, depth), dtype=bool) for v in node.values]
        combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
        return combine.reduce(np.broadcast_arrays(*values))

    def unary(self, node: ast.UnaryOp, depth: int) -> Any:
        value = self(node.operand, depth)
        if isinstance(node.op, ast.Not):
            return np.logical_not(value)
        if isinstance(node.op, ast.USub):
            return -value
        if isinstance(node.op, ast.UAdd):
            return +value
        raise self.refuse(node)

    def binary(self, node: ast.BinOp, depth: int) -> Any:
        op = _BINARY.get(type(node.op))
        if op is None:
            raise self.refuse(node)
        with np.errstate(all="ignore"):
            return op(self(node.left, depth), self(node.right, depth))

    def call(self, node: ast.Call, depth: int) -> Any:
        func = node.func.id if isinstance(node.func, ast.Name) else None
        if func not in _FUNCTIONS or len(node.args) != 1 or node.keywords:
            raise self.refuse(node)
        return _FUNCTIONS[func](self(node.args[0], depth))

    def compare(self, node: ast.Compare, depth: int) -> Any:
        left, result = self(node.left, depth), True
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            if type(op) not in _COMPARE:
                raise self.refuse(node)
            right = self(right_node, depth)
            result = np.logical_and(result, _COMPARE[type(op)](left, right))
            left = right
        return result

    def column(self, name: str) -> np.ndarray:
        if name in self.columns:
            return self.columns[name]
        raise UnknownNameError(
            f"The mask {self.expression!r} names {name!r}, which is not a column of this data. "
            f"Columns: {sorted(self.columns)}. The events at_limit and in_contact exist only in "
            f"data simulated from a MuJoCo model (hybridwm simulate --mjcf)."
        )


_HANDLERS: dict[type, Callable[[_Evaluator, Any, int], Any]] = {
    ast.Expression: _Evaluator.expression_,
    ast.Constant: _Evaluator.constant,
    ast.Name: _Evaluator.name,
    ast.BoolOp: _Evaluator.boolean,
    ast.UnaryOp: _Evaluator.unary,
    ast.BinOp: _Evaluator.binary,
    ast.Compare: _Evaluator.compare,
    ast.Call: _Evaluator.call,
}


def _evaluate(tree: ast.Expression, expression: str, columns: Mapping[str, np.ndarray]) -> Any:
    n = len(columns["t"])
    value = np.asarray(_Evaluator(columns, expression)(tree))
    if value.dtype != bool:
        raise ConfigError(
            f"The mask {expression!r} must be true or false on each row (a comparison, an event "
            f"or a combination with and/or/not). It gives {value.dtype} values; compare them, "
            f"e.g. 'abs(theta) < 1.5'."
        )
    return np.broadcast_to(value, (n,))


# ---------------------------------------------------------------------------- masking
@dataclass(frozen=True)
class MaskResult:
    """What a mask kept and dropped.

    Attributes:
        data: the kept segments (each a trajectory; ``meta["segment"]`` holds its rows
            ``start``/``stop`` in the episode it came from).
        rows_kept: rows in the kept segments.
        rows_masked: rows the mask dropped.
        rows_short: rows the mask kept but that were dropped with a segment shorter than
            ``min_samples``.
        episodes: episodes the data held before masking.
    """

    data: TrajectorySet
    rows_kept: int
    rows_masked: int
    rows_short: int
    episodes: int

    def describe(self) -> str:
        """One line saying what was kept and dropped."""
        total = self.rows_kept + self.rows_masked + self.rows_short
        return (
            f"kept {self.rows_kept} of {total} rows in {len(self.data)} segment(s) of "
            f"{self.episodes} episode(s); the mask dropped {self.rows_masked} rows and segments "
            f"too short to use dropped {self.rows_short} more"
        )


def _check_min_samples(min_samples: Any) -> int:
    if isinstance(min_samples, bool) or not isinstance(min_samples, (int, np.integer)):
        raise ConfigError(f"`min_samples` must be an integer >= 2. Got {min_samples!r}.")
    if min_samples < MIN_SAMPLES:
        raise ConfigError(
            f"`min_samples` must be >= {MIN_SAMPLES} (a segment needs two samples to span an "
            f"interval). Got {min_samples}."
        )
    return int(min_samples)


def _runs(keep: np.ndarray) -> list[tuple[int, int]]:
    """The half-open ``(start, stop)`` row ranges where ``keep`` is true."""
    padded = np.concatenate([[False], keep, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def keep_rows(
    data: TrajectorySet, keep: Sequence[np.ndarray], *, min_samples: int = MIN_SAMPLES
) -> MaskResult:
    """The runs of kept rows of each episode, as separate trajectories.

    Args:
        data: the episodes.
        keep: one (T_i,) boolean array per episode: true on the rows to keep.
        min_samples: the fewest samples a kept segment needs (shorter ones are dropped).

    Returns:
        The segments in episode order and the counts of kept and dropped rows.

    Raises:
        ShapeError: if ``keep`` does not hold one array of the right length per episode.
        DataError: if nothing is kept.
    """
    min_samples = _check_min_samples(min_samples)
    if len(keep) != len(data):
        raise DataError(
            f"`keep` must hold one boolean array per episode ({len(data)}). Got {len(keep)}."
        )
    segments: list[Trajectory] = []
    masked = short = 0
    for i, (tr, k) in enumerate(zip(data, keep, strict=True)):
        k = np.asarray(k, dtype=bool)
        if k.shape != (len(tr),):
            raise DataError(
                f"`keep` of episode {i} must have shape ({len(tr)},), one flag per row. Got "
                f"{k.shape}."
            )
        masked += int((~k).sum())
        for start, stop in _runs(k):
            if stop - start < min_samples:
                short += stop - start
                continue
            part = tr.slice(start, stop)
            segments.append(part.replace(meta=_slice_meta(tr, i, start, stop)))
    if not segments:
        raise DataError(
            f"The mask kept no segment of {min_samples} or more samples out of "
            f"{data.n_samples} rows in {len(data)} episodes; loosen the mask."
        )
    kept = sum(len(s) for s in segments)
    return MaskResult(TrajectorySet(segments), kept, masked, short, len(data))


def mask_rows(
    data: TrajectorySet, expression: str, *, min_samples: int = MIN_SAMPLES
) -> MaskResult:
    """Keep the rows where ``expression`` is true, splitting episodes at the dropped rows.

    Args:
        data: the episodes.
        expression: a mask over the columns, e.g. ``"not at_limit"`` (see the module doc).
        min_samples: the fewest samples a kept segment needs (shorter ones are dropped); give
            what the next step needs, e.g. the differentiation's minimum.

    Returns:
        The kept segments and the counts of kept and dropped rows.

    Raises:
        ParseError: the expression cannot be parsed or uses something other than columns,
            numbers, arithmetic, comparisons, and/or/not and abs/sin/cos.
        UnknownNameError: it names a column the data does not have (the columns are listed).
        ConfigError: it is not true or false on each row.
        DataError: nothing is kept.
    """
    tree = _parse(expression)
    keep = [
        _evaluate(tree, expression, row_columns(tr, _position(tr, i))) for i, tr in enumerate(data)
    ]
    return keep_rows(data, keep, min_samples=min_samples)


def _indices(values: Iterable[Any] | None, n: int, argument: str) -> list[int] | None:
    if values is None:
        return None
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise ConfigError(
                f"`{argument}` must list episode positions (integers, 0-based). Got {v!r}."
            )
        if not 0 <= int(v) < n:
            raise ConfigError(
                f"`{argument}` names episode {int(v)}, but the data has {n} episodes "
                f"(0 to {n - 1})."
            )
        out.append(int(v))
    return out


def select_episodes(
    data: TrajectorySet,
    keep: Iterable[int] | None = None,
    *,
    exclude: Iterable[int] | None = None,
) -> TrajectorySet:
    """The episodes at the positions ``keep`` (all when None) less those in ``exclude``.

    Args:
        data: the episodes.
        keep: 0-based positions of the episodes to keep, in file order; None keeps all.
        exclude: 0-based positions of episodes to drop.

    Returns:
        The kept episodes, in the set's order, each with ``meta["segment"]`` (its position in
        the data as read, all its rows); ``meta["episode"]``, when the file had an episode
        column, still names it.

    Raises:
        ConfigError: a position is not an integer or is out of range, or nothing is left.
    """
    n = len(data)
    wanted = _indices(keep, n, "episodes")
    dropped = set(_indices(exclude, n, "exclude_episodes") or [])
    chosen = [i for i in (range(n) if wanted is None else sorted(set(wanted))) if i not in dropped]
    if not chosen:
        raise ConfigError(
            f"The episode selection (episodes={wanted}, exclude_episodes={sorted(dropped)}) "
            f"leaves none of the {n} episodes; keep at least one."
        )
    return TrajectorySet(
        data[i].replace(meta=_slice_meta(data[i], i, 0, len(data[i]))) for i in chosen
    )
