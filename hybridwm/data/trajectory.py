"""Trajectory and TrajectorySet: the value every step of hybridwm reads or writes.

Conventions:
    * ``t`` has shape (T,) and is strictly increasing.
    * ``x`` has shape (T, n_x): states or observations sampled at ``t``.
    * ``u`` has shape (T, n_u) with ``n_u`` possibly 0. ``u[k]`` is held constant on
      ``[t[k], t[k+1])`` (zero-order hold); the last row acts after the last sample and is kept
      so that files stay rectangular.
    * ``x`` and ``u`` hold finite values unless the trajectory was built with
      ``allow_nan=True`` (what ``read_trajectories(..., allow_nan=True)`` does); such a set is
      cleaned with ``TrajectorySet.dropna()`` or ``TrajectorySet.interpolate()``. NaN and ±inf
      both count as missing values. ``t`` is always finite.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

import numpy as np
import pandas as pd

from hybridwm.errors import DataError, ShapeError, UnknownNameError

if TYPE_CHECKING:
    from hybridwm.data.columns import ColumnMapping

__all__ = ["Trajectory", "TrajectorySet"]


def _as_float_array(value: Any, name: str, ndim: int) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(
            f"`{name}` must be numeric (convertible to float64). Got an array of "
            f"{type(value).__name__} that failed: {exc}. Convert non-numeric columns first."
        ) from None
    if ndim == 2 and arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != ndim:
        raise ShapeError(f"`{name}` must be a {ndim}-D array. Got shape {arr.shape} instead.")
    return arr


def _check_names(names: Sequence[str] | None, n: int, kind: str, prefix: str) -> tuple[str, ...]:
    if names is None:
        return tuple(f"{prefix}{i}" for i in range(n))
    names = tuple(str(n_) for n_ in names)
    if len(names) != n:
        raise ShapeError(
            f"`{kind}` has {len(names)} names {list(names)} but the array has {n} columns; "
            f"give one name per column."
        )
    if len(set(names)) != len(names):
        dup = sorted({n_ for n_ in names if names.count(n_) > 1})
        raise DataError(f"`{kind}` must be unique. Duplicated: {dup}.")
    return names


@dataclass(frozen=True, eq=False)
class Trajectory:
    """One episode of states and held actions, validated on construction.

    Args:
        t: (T,) sample times, strictly increasing, finite.
        x: (T, n_x) states or observations at ``t``.
        u: (T, n_u) actions; ``u[k]`` is held on ``[t[k], t[k+1])``. ``None`` means no actions.
        state_names: ``n_x`` unique names (default ``x0, x1, ...``).
        action_names: ``n_u`` unique names (default ``u0, u1, ...``).
        meta: free-form JSON-serialisable metadata (system, parameters, scenario, seed, ...).
        allow_nan: if True, ``x`` and ``u`` may hold missing values (NaN or ±inf), e.g. a log
            read with ``allow_nan=True`` before ``interpolate()``; ``t`` must still be finite.

    Raises:
        ShapeError: if the arrays' shapes disagree.
        DataError: if an array holds NaN/inf (unless ``allow_nan``) or ``t`` is not strictly
            increasing.
    """

    t: np.ndarray
    x: np.ndarray
    u: np.ndarray | None = None
    state_names: tuple[str, ...] | None = None
    action_names: tuple[str, ...] | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    allow_nan: bool = False

    def __post_init__(self) -> None:
        t = _as_float_array(self.t, "t", 1)
        x = _as_float_array(self.x, "x", 2)
        u = np.zeros((len(t), 0)) if self.u is None else _as_float_array(self.u, "u", 2)
        if len(t) < 1:
            raise DataError("A trajectory needs at least one sample; `t` is empty.")
        if x.shape[0] != len(t):
            raise ShapeError(
                f"`x` must have one row per time sample: expected {len(t)} rows (len(t)), "
                f"got {x.shape[0]}."
            )
        if u.shape[0] != len(t):
            raise ShapeError(
                f"`u` must have one row per time sample: expected {len(t)} rows (len(t)), "
                f"got {u.shape[0]}. Pad the last action if your log has one action fewer than states."
            )
        sn = _check_names(self.state_names, x.shape[1], "state_names", "x")
        an = _check_names(self.action_names, u.shape[1], "action_names", "u")
        _check_finite(t[:, None], ("t",), "t")
        if not self.allow_nan:
            _check_finite(x, sn, "x")
            _check_finite(u, an, "u")
        if len(t) > 1:
            dt = np.diff(t)
            bad = np.flatnonzero(dt <= 0)
            if bad.size:
                i = int(bad[0]) + 1
                raise DataError(
                    f"`t` must be strictly increasing; row {i} has t={float(t[i])!r} after "
                    f"t={float(t[i - 1])!r}. Sort by time and drop duplicate timestamps."
                )
        for a in (t, x, u):
            a.setflags(write=False)
        object.__setattr__(self, "t", t)
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "u", u)
        object.__setattr__(self, "state_names", sn)
        object.__setattr__(self, "action_names", an)
        object.__setattr__(self, "meta", dict(self.meta))
        object.__setattr__(self, "allow_nan", bool(self.allow_nan))

    # ------------------------------------------------------------------ properties
    def __len__(self) -> int:
        return len(self.t)

    @property
    def n_x(self) -> int:
        """Number of state columns."""
        return self.x.shape[1]

    @property
    def n_u(self) -> int:
        """Number of action columns (may be 0)."""
        return self.u.shape[1]

    @property
    def duration(self) -> float:
        """``t[-1] - t[0]``."""
        return float(self.t[-1] - self.t[0])

    @property
    def dt(self) -> np.ndarray:
        """(T-1,) sample intervals."""
        return np.diff(self.t)

    @property
    def is_uniform(self) -> bool:
        """True if the sample intervals are equal up to 1e-9 relative."""
        if len(self.t) < 3:
            return True
        d = self.dt
        return bool(np.allclose(d, d[0], rtol=1e-9, atol=0.0))

    @property
    def has_missing(self) -> bool:
        """True if ``x`` or ``u`` holds a missing value (NaN or ±inf)."""
        return not (np.isfinite(self.x).all() and np.isfinite(self.u).all())

    def state(self, name: str) -> np.ndarray:
        """(T,) the column of state ``name``."""
        return self.x[:, _index_of(name, self.state_names, "state")]

    def action(self, name: str) -> np.ndarray:
        """(T,) the column of action ``name``."""
        return self.u[:, _index_of(name, self.action_names, "action")]

    def replace(self, **changes: Any) -> Trajectory:
        """A copy with some fields replaced (validated again)."""
        fields = dict(
            t=self.t,
            x=self.x,
            u=self.u,
            state_names=self.state_names,
            action_names=self.action_names,
            meta=self.meta,
            allow_nan=self.allow_nan,
        )
        fields.update(changes)
        return Trajectory(**fields)

    def slice(self, start: int = 0, stop: int | None = None) -> Trajectory:
        """Samples ``start:stop`` as a new trajectory."""
        return self.replace(t=self.t[start:stop], x=self.x[start:stop], u=self.u[start:stop])

    def __repr__(self) -> str:
        return (
            f"Trajectory(T={len(self)}, t=[{self.t[0]:.4g}, {self.t[-1]:.4g}], "
            f"states={list(self.state_names)}, actions={list(self.action_names)})"
        )


def _index_of(name: str, names: Sequence[str], kind: str) -> int:
    try:
        return list(names).index(name)
    except ValueError:
        raise UnknownNameError(f"Unknown {kind} {name!r}. Available: {list(names)}.") from None


def _check_finite(arr: np.ndarray, names: Sequence[str], what: str) -> None:
    bad = ~np.isfinite(arr)
    if bad.any():
        row, col = (int(v) for v in np.argwhere(bad)[0])
        kind = "NaN" if np.isnan(arr[row, col]) else "inf"
        raise DataError(
            f"`{what}` has {kind} in column `{names[col]}` at row {row}; drop or interpolate it "
            f"before use, e.g. `TrajectorySet.dropna()` or `TrajectorySet.interpolate()`."
        )


class TrajectorySet(Sequence[Trajectory]):
    """An ordered collection of trajectories that share state and action names.

    Trajectories may have different lengths and time grids.

    Args:
        trajectories: the episodes; all must have the same ``state_names`` and ``action_names``.

    Raises:
        DataError: if the set is empty or the names differ between trajectories.
    """

    def __init__(self, trajectories: Iterable[Trajectory]) -> None:
        trajs = list(trajectories)
        if not trajs:
            raise DataError("A TrajectorySet needs at least one trajectory; got none.")
        for i, tr in enumerate(trajs):
            if not isinstance(tr, Trajectory):
                raise DataError(
                    f"TrajectorySet items must be Trajectory objects; item {i} is "
                    f"{type(tr).__name__}."
                )
        first = trajs[0]
        for i, tr in enumerate(trajs[1:], start=1):
            if tr.state_names != first.state_names or tr.action_names != first.action_names:
                raise DataError(
                    f"All trajectories must share state and action names. Trajectory 0 has "
                    f"states {list(first.state_names)}, actions {list(first.action_names)}; "
                    f"trajectory {i} has states {list(tr.state_names)}, actions "
                    f"{list(tr.action_names)}."
                )
        self._trajs: tuple[Trajectory, ...] = tuple(trajs)

    # ------------------------------------------------------------------ sequence protocol
    def __len__(self) -> int:
        return len(self._trajs)

    @overload
    def __getitem__(self, index: int) -> Trajectory: ...

    @overload
    def __getitem__(self, index: slice) -> TrajectorySet: ...

    def __getitem__(self, index: int | slice) -> Trajectory | TrajectorySet:
        if isinstance(index, slice):
            return TrajectorySet(self._trajs[index])
        if isinstance(index, (int, np.integer)):
            n = len(self._trajs)
            if not -n <= int(index) < n:
                raise IndexError(f"Trajectory index {int(index)} out of range for {n} episodes.")
            return self._trajs[int(index)]
        raise TypeError(
            f"TrajectorySet indices must be int or slice, got {type(index).__name__}; "
            f"use .select([...]) for a list of indices."
        )

    def __iter__(self) -> Iterator[Trajectory]:
        return iter(self._trajs)

    def __repr__(self) -> str:
        lens = [len(tr) for tr in self._trajs]
        return (
            f"TrajectorySet(n={len(self)}, T={min(lens)}..{max(lens)}, "
            f"states={list(self.state_names)}, actions={list(self.action_names)})"
        )

    # ------------------------------------------------------------------ properties
    @property
    def state_names(self) -> tuple[str, ...]:
        """Names of the state columns."""
        return self._trajs[0].state_names  # type: ignore[return-value]

    @property
    def action_names(self) -> tuple[str, ...]:
        """Names of the action columns (may be empty)."""
        return self._trajs[0].action_names  # type: ignore[return-value]

    @property
    def n_x(self) -> int:
        """Number of state columns."""
        return self._trajs[0].n_x

    @property
    def n_u(self) -> int:
        """Number of action columns."""
        return self._trajs[0].n_u

    @property
    def lengths(self) -> np.ndarray:
        """(n,) number of samples in each trajectory."""
        return np.array([len(tr) for tr in self._trajs], dtype=np.int64)

    @property
    def n_samples(self) -> int:
        """Total number of samples over all trajectories."""
        return int(self.lengths.sum())

    # ------------------------------------------------------------------ helpers
    def select(self, indices: Iterable[int]) -> TrajectorySet:
        """The trajectories at ``indices``, in that order."""
        idx = [int(i) for i in indices]
        n = len(self)
        bad = [i for i in idx if not -n <= i < n]
        if bad:
            raise DataError(f"Episode indices {bad} are out of range for a set of {n} episodes.")
        return TrajectorySet(self._trajs[i] for i in idx)

    def filter(self, predicate: Any) -> TrajectorySet:
        """The trajectories for which ``predicate(traj)`` is true."""
        return TrajectorySet(tr for tr in self._trajs if predicate(tr))

    def split(
        self, fractions: Sequence[float] = (0.8, 0.2), *, seed: int = 0
    ) -> tuple[TrajectorySet, ...]:
        """Split by episode into parts of the given fractions after a seeded shuffle.

        Args:
            fractions: positive fractions summing to 1, e.g. ``(0.7, 0.15, 0.15)``.
            seed: seed of the shuffle; the same seed gives the same split.

        Returns:
            One TrajectorySet per fraction, each with at least one episode.
        """
        fr = np.asarray(fractions, dtype=float)
        if fr.ndim != 1 or len(fr) < 2 or (fr <= 0).any() or not np.isclose(fr.sum(), 1.0):
            raise DataError(
                f"`fractions` must be two or more positive numbers summing to 1. Got "
                f"{list(fractions)}."
            )
        if len(self) < len(fr):
            raise DataError(
                f"Cannot split {len(self)} episodes into {len(fr)} non-empty parts; "
                f"simulate or load more episodes."
            )
        order = np.random.default_rng(seed).permutation(len(self))
        counts = np.maximum(1, np.floor(fr * len(self)).astype(int))
        while counts.sum() > len(self):
            counts[int(np.argmax(counts))] -= 1
        counts[0] += len(self) - counts.sum()
        bounds = np.concatenate([[0], np.cumsum(counts)])
        return tuple(
            self.select(sorted(order[a:b].tolist())) for a, b in itertools.pairwise(bounds)
        )

    @staticmethod
    def concat(sets: Iterable[TrajectorySet | Trajectory]) -> TrajectorySet:
        """One set holding the episodes of all ``sets`` in order (names must match)."""
        trajs: list[Trajectory] = []
        for s in sets:
            trajs.extend([s] if isinstance(s, Trajectory) else list(s))
        return TrajectorySet(trajs)

    def __add__(self, other: TrajectorySet) -> TrajectorySet:
        return TrajectorySet.concat([self, other])

    def summary(self) -> pd.DataFrame:
        """Per-column statistics over all samples, one row per state and action column.

        Returns:
            A DataFrame indexed by column name with columns ``kind`` ("state" or "action"),
            ``mean``, ``std`` (population, ddof=0), ``min``, ``max`` over the finite values of
            all episodes, and ``missing``: the number of NaN/±inf values (non-zero only for a
            set read with ``allow_nan=True``). A column without any finite value has NaN stats.
        """
        cols = list(self.state_names) + list(self.action_names)
        data = np.concatenate([np.hstack([tr.x, tr.u]) for tr in self._trajs], axis=0)
        finite = np.isfinite(data)
        count = finite.sum(axis=0)
        masked = np.where(finite, data, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = masked.sum(axis=0) / count
            var = np.where(finite, (data - mean) ** 2, 0.0).sum(axis=0) / count
        big = np.where(finite, data, -np.inf).max(axis=0, initial=-np.inf)
        small = np.where(finite, data, np.inf).min(axis=0, initial=np.inf)
        none = count == 0
        return pd.DataFrame(
            {
                "kind": ["state"] * self.n_x + ["action"] * self.n_u,
                "mean": np.where(none, np.nan, mean),
                "std": np.where(none, np.nan, np.sqrt(var)),
                "min": np.where(none, np.nan, small),
                "max": np.where(none, np.nan, big),
                "missing": (data.shape[0] - count).astype(np.int64),
            },
            index=pd.Index(cols, name="column"),
        )

    def stack(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Stack trajectories that share one time grid into batched arrays.

        The trajectories must have the same number of samples and the same spacing, but they
        may start at different absolute times: the returned ``t`` is **relative to each
        trajectory's start**, ``t = traj.t - traj.t[0]``, so ``t[0] == 0`` always. Absolute
        start times are not returned; read them from ``[tr.t[0] for tr in ts]`` if needed.
        :meth:`from_arrays` is the inverse (with all episodes starting at ``t[0]``).

        Returns:
            ``(t, x, u)``: ``t`` (T,) times relative to the start of every trajectory
            (starting at 0); ``x`` (n, T, n_x) states; ``u`` (n, T, n_u) actions.

        Raises:
            DataError: if the trajectories have different lengths or time grids.
        """
        t0 = self._trajs[0].t
        for i, tr in enumerate(self._trajs):
            if len(tr) != len(t0) or not np.allclose(tr.t - tr.t[0], t0 - t0[0], rtol=0, atol=1e-9):
                raise DataError(
                    f"stack() needs one shared time grid; trajectory {i} has {len(tr)} samples "
                    f"over [{tr.t[0]:.4g}, {tr.t[-1]:.4g}] while trajectory 0 has {len(t0)} over "
                    f"[{t0[0]:.4g}, {t0[-1]:.4g}]. Use resample(dt) or iterate over episodes."
                )
        x = np.stack([tr.x for tr in self._trajs])
        u = np.stack([tr.u for tr in self._trajs])
        return t0 - t0[0], x, u

    # ------------------------------------------------------------------ missing values
    @property
    def has_missing(self) -> bool:
        """True if any trajectory holds a missing value (NaN/±inf); see ``allow_nan``."""
        return any(tr.has_missing for tr in self._trajs)

    def check_finite(self) -> TrajectorySet:
        """Return ``self`` if it holds no missing value; else raise ``DataError`` naming it.

        Steps that need clean data call this first.
        """
        from hybridwm.data.cleaning import check_finite

        check_finite(self)
        return self

    def dropna(self, *, drop_short: bool = False) -> TrajectorySet:
        """A copy without the samples that have a missing value (NaN/±inf) in any column.

        Args:
            drop_short: an episode left with fewer than 2 samples raises ``DataError``
                (default) or, if True, is dropped with a ``UserWarning``.
        """
        from hybridwm.data.cleaning import dropna

        return dropna(self, drop_short=drop_short, stacklevel=3)

    def interpolate(self, *, action_method: str = "linear") -> TrajectorySet:
        """A copy with missing values filled linearly in time (edges: nearest valid value).

        Args:
            action_method: ``"linear"`` like the states, or ``"previous"`` (zero-order hold:
                the last valid action stays in force).
        """
        from hybridwm.data.cleaning import interpolate

        return interpolate(self, action_method=action_method)

    def resample(self, dt: float, method: str = "linear") -> TrajectorySet:
        """Every episode on a uniform grid ``t0, t0 + dt, ...`` up to its last sample.

        States are interpolated linearly; actions are zero-order held (the action in force at
        a new time is the last one whose timestamp is ≤ it). See
        :func:`hybridwm.data.cleaning.resample`.
        """
        from hybridwm.data.cleaning import resample

        return resample(self, dt, method)

    def with_time_scale(self, scale: float) -> TrajectorySet:
        """A copy with every time multiplied by ``scale`` (``0.001``: milliseconds → seconds)."""
        from hybridwm.data.cleaning import with_time_scale

        return with_time_scale(self, scale)

    def add_noise(self, level: float, *, seed: int | Sequence[int] = 0) -> TrajectorySet:
        """A copy with Gaussian noise of ``level`` × each state's std added to the states;
        see :func:`hybridwm.data.cleaning.add_noise`."""
        from hybridwm.data.cleaning import add_noise

        return add_noise(self, level, seed=seed)

    # ------------------------------------------------------------------ construction and IO
    @classmethod
    def from_arrays(
        cls,
        t: Any,
        x: Any,
        u: Any = None,
        state_names: Sequence[str] | None = None,
        action_names: Sequence[str] | None = None,
        meta: dict[str, Any] | Sequence[dict[str, Any]] | None = None,
    ) -> TrajectorySet:
        """A set from batched arrays on one time grid (the inverse of :meth:`stack`).

        Args:
            t: (T,) times shared by all episodes, or (n, T) one grid per episode.
            x: (n, T, n_x) states.
            u: (n, T, n_u) actions, or ``None`` for no actions.
            state_names: ``n_x`` names (default ``x0, x1, ...``).
            action_names: ``n_u`` names (default ``u0, u1, ...``).
            meta: one dict for every episode or a list of ``n`` dicts.
        """
        from hybridwm.data.cleaning import from_arrays

        return from_arrays(t, x, u, state_names, action_names, meta)

    def to_dataframe(self) -> pd.DataFrame:
        """Long-format DataFrame: columns ``episode, t, <states>, <actions>``, one row per sample.

        ``episode`` is the trajectory index (0..n-1). The time and episode columns are named
        ``t_`` / ``episode_`` if a state or action already uses the plain name. The hybridwm
        schema (names, roles, metadata) is kept in ``df.attrs["hybridwm"]`` so that
        ``TrajectorySet.from_dataframe(ts.to_dataframe())`` gives ``ts`` back exactly.
        """
        from hybridwm.data.frames import set_to_frame

        return set_to_frame(self)

    @classmethod
    def from_dataframe(
        cls,
        df: pd.DataFrame,
        *,
        time: str = "t",
        states: Sequence[str] | None = None,
        actions: Sequence[str] | None = None,
        episode: str | None = "episode",
        time_scale: float = 1.0,
        dropna: bool = False,
        allow_nan: bool = False,
    ) -> TrajectorySet:
        """A set from a long-format DataFrame, with the same validation as the file readers.

        Args:
            df: one row per sample.
            time: the time column.
            states: the state columns; ``None`` uses the schema in ``df.attrs`` (from
                :meth:`to_dataframe`) if there is one, else every column that is not the
                time, the episode or an action.
            actions: the action columns (default none).
            episode: the column labelling episodes; the default ``"episode"`` means one
                episode when there is no such column; ``None`` always means one episode.
            time_scale: factor from the time unit to seconds.
            dropna: drop rows with missing values.
            allow_nan: keep missing state/action values (clean later with ``interpolate``).

        Raises:
            FormatError, DataError, ConfigError: as :func:`read_trajectories`.
        """
        import warnings

        from hybridwm.data.frames import frame_to_set, spec_for_frame
        from hybridwm.errors import FormatError

        if not isinstance(df, pd.DataFrame):
            raise FormatError(
                f"`df` of from_dataframe must be a pandas DataFrame. Got {type(df).__name__}."
            )
        spec = spec_for_frame(
            df, time=time, states=states, actions=actions, episode=episode, time_scale=time_scale
        )
        ts, notes = frame_to_set(
            df, spec, source="the DataFrame", dropna=dropna, allow_nan=allow_nan
        )
        for note in notes:
            warnings.warn(note, UserWarning, stacklevel=2)
        return ts

    @classmethod
    def read(
        cls,
        path: str | os.PathLike[str],
        *,
        columns: ColumnMapping | Mapping[str, Any] | str | os.PathLike[str] | None = None,
        format: str | None = None,
        time_scale: float = 1.0,
        dropna: bool = False,
        allow_nan: bool = False,
    ) -> TrajectorySet:
        """Read a Parquet, CSV or NPZ file; see :func:`hybridwm.data.io.read_trajectories`."""
        from hybridwm.data.io import _read_and_warn

        return _read_and_warn(
            path,
            columns=columns,
            format=format,
            time_scale=time_scale,
            dropna=dropna,
            allow_nan=allow_nan,
        )

    def write(self, path: str | os.PathLike[str], *, format: str | None = None) -> Path:
        """Write atomically as Parquet, CSV or NPZ; see :func:`hybridwm.data.io.write_trajectories`."""
        from hybridwm.data.io import write_trajectories

        return write_trajectories(self, path, format=format)
