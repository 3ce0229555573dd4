"""The data options every command that reads trajectories shares: one object, one set of flags.

``--columns FILE`` and ``--time/--states/--actions/--episode`` build a
:class:`~hybridwm.data.ColumnMapping` for a log from elsewhere (the flags override the same fields
of the file); ``--time-scale`` converts the time unit; ``--dropna`` drops incomplete rows. A model
fitted through a mapping remembers it (``WorldModel.columns_``), so reading the same kind of file
for that model needs no flags: :meth:`DataOptions.read` takes the model's mapping as the base
that the flags override.

``--mask EXPR``, ``--episodes 0,3,5`` and ``--exclude-episodes 1,2`` (:func:`mask_flags`) keep
some rows or episodes of the data read (:mod:`hybridwm.data.masks`): a mask splits an episode
where it drops rows, so nothing is differentiated across a gap.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from hybridwm.cli.flags import split_names, with_parameters
from hybridwm.config import load_mapping
from hybridwm.data import (
    ColumnMapping,
    MaskResult,
    TrajectorySet,
    mask_rows,
    read_schema,
    read_trajectories,
    select_episodes,
)
from hybridwm.errors import ConfigError, FormatError

__all__ = ["DataOpt", "DataOptions", "MaskOptions", "data_flags", "mask_flags"]

F = TypeVar("F", bound=Callable[..., Any])
PANEL = "Reading the data"
MASK_PANEL = "Selecting rows and episodes"
EXAMPLE = "--time t --states a,b --actions u --episode run"

DataOpt = Annotated[Path, typer.Option(help="Trajectory file (.parquet, .csv or .npz).")]


@dataclasses.dataclass(frozen=True)
class DataOptions:
    """How to read a trajectory file (the values of the shared data flags).

    Attributes:
        columns: a TOML/YAML/JSON file with :class:`~hybridwm.data.ColumnMapping` fields.
        time_scale: factor from the file's time unit to seconds.
        time: name of the time column.
        states: names of the state columns.
        actions: names of the action columns.
        episode: name of the column labelling episodes.
        dropna: drop rows with missing values.
    """

    columns: Path | None = None
    time_scale: float | None = None
    time: str | None = None
    states: tuple[str, ...] | None = None
    actions: tuple[str, ...] | None = None
    episode: str | None = None
    dropna: bool = False

    def mapping_fields(self) -> dict[str, Any]:
        """The column-mapping fields given by ``--columns`` and the flags (the flags win)."""
        fields = dict(load_mapping(self.columns)) if self.columns is not None else {}
        flags = {"time": self.time, "states": self.states, "actions": self.actions}
        flags["episode"] = self.episode
        fields.update({k: v for k, v in flags.items() if v is not None})
        return fields

    def read(self, path: Path, *, model_columns: Mapping[str, Any] | None = None) -> TrajectorySet:
        """Read a trajectory file with these options.

        Args:
            path: a Parquet, CSV or NPZ file.
            model_columns: the fields of the column mapping a fitted model was trained through
                (``WorldModel.columns_``): the base that the flags override, used for a file
                without a hybridwm schema.

        Raises:
            ConfigError: a mapping lacks its time or state columns.
            FormatError: the file has no hybridwm schema and no mapping was given (the message
                names the flags to give).
        """
        fields = self.mapping_fields()
        base = dict(model_columns or {})
        if base and (fields or read_schema(path) is None):
            fields = {**base, **fields}
        if fields:
            return self._read_mapped(path, fields)
        try:
            return read_trajectories(path, time_scale=self.time_scale or 1.0, dropna=self.dropna)
        except FormatError:
            if read_schema(path) is not None:
                raise
        raise FormatError(
            f"{path.name} has no hybridwm schema (it was not written by hybridwm), so it is not "
            f"known which columns are the time, states, actions and episode. Give them as flags, "
            f"e.g. `{EXAMPLE}` (and `--time-scale 0.001` for milliseconds), or as a file: "
            f"`--columns FILE` (TOML/YAML/JSON with those fields)."
        )

    def _read_mapped(self, path: Path, fields: dict[str, Any]) -> TrajectorySet:
        if self.time_scale is not None:
            fields["time_scale"] = self.time_scale
        missing = [k for k in ("time", "states") if k not in fields]
        if missing:
            raise ConfigError(
                f"Reading {path.name} with a column mapping needs "
                f"{' and '.join('--' + k for k in missing)} (or a --columns file giving them); "
                f"e.g. {EXAMPLE}."
            )
        return read_trajectories(path, columns=ColumnMapping.from_dict(fields), dropna=self.dropna)


def _names(values: list[str] | None) -> tuple[str, ...] | None:
    names = split_names(values)
    return None if names is None else tuple(names)


def _build(values: dict[str, Any]) -> DataOptions:
    values["states"], values["actions"] = _names(values["states"]), _names(values["actions"])
    return DataOptions(**values)


def _option(
    name: str,
    annotation: Any,
    default: Any,
    *decls: str,
    help: str,
    metavar: str | None = None,
    panel: str = PANEL,
) -> Any:
    option = typer.Option(*decls, help=help, metavar=metavar, rich_help_panel=panel)
    kind = inspect.Parameter.KEYWORD_ONLY
    return inspect.Parameter(name, kind, default=default, annotation=Annotated[annotation, option])


_PARAMETERS = [
    _option(
        "columns",
        Path | None,
        None,
        "--columns",
        help="Column mapping (TOML/YAML/JSON: time, states, actions, episode).",
    ),
    _option(
        "time_scale",
        float | None,
        None,
        "--time-scale",
        help="Multiply the time column by this to get seconds.",
    ),
    _option("time", str | None, None, "--time", help="Name of the time column."),
    _option(
        "states",
        list[str] | None,
        None,
        "--states",
        help="Measured state columns (repeat or comma-separate).",
        metavar="A,B,...",
    ),
    _option(
        "actions",
        list[str] | None,
        None,
        "--actions",
        help="Action columns (repeat or comma-separate).",
        metavar="A,B,...",
    ),
    _option(
        "episode", str | None, None, "--episode", help="Column labelling episodes (default: one)."
    ),
    _option("dropna", bool, False, "--dropna", help="Drop rows with missing values."),
]


def data_flags(func: F) -> F:
    """Decorator: add the shared data flags to a command, which gets them as ``reading``."""
    return with_parameters(_PARAMETERS, "reading", _build)(func)


# ---------------------------------------------------------------------------- masks
@dataclasses.dataclass(frozen=True)
class MaskOptions:
    """Which rows and episodes of the data to use (the values of the mask flags).

    Attributes:
        mask: an expression over the columns; the rows where it is true are kept (see
            :mod:`hybridwm.data.masks`), e.g. ``"not at_limit"``.
        episodes: 0-based positions of the episodes to keep (file order); None keeps all.
        exclude_episodes: 0-based positions of episodes to drop.
        min_segment: the fewest samples a kept segment needs; None: what the command needs.
    """

    mask: str | None = None
    episodes: tuple[int, ...] | None = None
    exclude_episodes: tuple[int, ...] | None = None
    min_segment: int | None = None

    @property
    def given(self) -> bool:
        """Whether any row or episode selection was asked for."""
        return any(v is not None for v in (self.mask, self.episodes, self.exclude_episodes))

    def apply(self, data: TrajectorySet, min_samples: int) -> tuple[TrajectorySet, str | None]:
        """The selected episodes, then the rows the mask keeps.

        Args:
            data: the episodes read.
            min_samples: the fewest samples a segment needs when ``min_segment`` is not given.

        Returns:
            The kept data and a line saying what was kept (None when nothing was asked for).
        """
        if not self.given:
            return data, None
        chosen = select_episodes(data, self.episodes, exclude=self.exclude_episodes)
        note = f"kept {len(chosen)} of {len(data)} episodes"
        if self.mask is None:
            return chosen, note
        need = min_samples if self.min_segment is None else self.min_segment
        result: MaskResult = mask_rows(chosen, self.mask, min_samples=need)
        return result.data, f"{note}; mask {self.mask!r}: {result.describe()}"


def _positions(values: list[str] | None, flag: str) -> tuple[int, ...] | None:
    names = split_names(values)
    if names is None:
        return None
    try:
        return tuple(int(v) for v in names)
    except ValueError:
        raise ConfigError(
            f"`{flag}` takes episode positions (0-based integers), e.g. `{flag} 0,3,5`. Got "
            f"{values}."
        ) from None


def _build_mask(values: dict[str, Any]) -> MaskOptions:
    values["episodes"] = _positions(values["episodes"], "--episodes")
    values["exclude_episodes"] = _positions(values["exclude_episodes"], "--exclude-episodes")
    return MaskOptions(**values)


_MASK_PARAMETERS = [
    _option(
        "mask",
        str | None,
        None,
        "--mask",
        help="Keep the rows where this expression over the columns is true, e.g. "
        "'not at_limit' or 'abs(theta) < 1.5'; an episode is split where rows are dropped.",
        metavar="EXPR",
        panel=MASK_PANEL,
    ),
    _option(
        "episodes",
        list[str] | None,
        None,
        "--episodes",
        help="Keep only these episodes (0-based positions in the file; repeat or comma-separate).",
        metavar="I,J,...",
        panel=MASK_PANEL,
    ),
    _option(
        "exclude_episodes",
        list[str] | None,
        None,
        "--exclude-episodes",
        help="Drop these episodes (0-based positions in the file).",
        metavar="I,J,...",
        panel=MASK_PANEL,
    ),
    _option(
        "min_segment",
        int | None,
        None,
        "--min-segment",
        help="Drop kept segments shorter than this many samples (default: what the "
        "differentiation needs).",
        panel=MASK_PANEL,
    ),
]


def mask_flags(func: F) -> F:
    """Decorator: add the row and episode selection flags to a command, which gets them as
    ``masking``."""
    return with_parameters(_MASK_PARAMETERS, "masking", _build_mask)(func)
