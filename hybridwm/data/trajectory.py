"""TrajectorySet: the value every step of hybridwm reads or writes.

A set is an ordered collection of :class:`~hybridwm.data.episode.Trajectory` episodes sharing
state and action names (re-exported here, so ``from hybridwm.data.trajectory import
Trajectory`` keeps working). Its methods are the public face of the data layer: cleaning
(:mod:`~hybridwm.data.cleaning`), long tables (:mod:`~hybridwm.data.frames`) and files
(:mod:`~hybridwm.data.formats`) work on episodes, and the set wraps what they return.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, overload

import numpy as np
import pandas as pd

from hybridwm.data import cleaning
from hybridwm.data.columns import ColumnMapping
from hybridwm.data.episode import Trajectory
from hybridwm.data.formats import read_episodes, write_episodes
from hybridwm.data.frames import episodes_to_frame, frame_to_episodes
from hybridwm.data.schema import spec_for_frame
from hybridwm.errors import DataError, FormatError, ShapeError

__all__ = ["Trajectory", "TrajectorySet"]


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
        cleaning.check_finite(self)
        return self

    def dropna(self, *, drop_short: bool = False) -> TrajectorySet:
        """A copy without the samples that have a missing value (NaN/±inf) in any column.

        Args:
            drop_short: an episode left with fewer than 2 samples raises ``DataError``
                (default) or, if True, is dropped with a ``UserWarning``.
        """
        return TrajectorySet(cleaning.dropna(self, drop_short=drop_short))

    def interpolate(self, *, action_method: str = "linear") -> TrajectorySet:
        """A copy with missing values filled linearly in time (edges: nearest valid value).

        Args:
            action_method: ``"linear"`` like the states, or ``"previous"`` (zero-order hold:
                the last valid action stays in force).
        """
        return TrajectorySet(cleaning.interpolate(self, action_method=action_method))

    def resample(self, dt: float, method: str = "linear") -> TrajectorySet:
        """Every episode on a uniform grid ``t0, t0 + dt, ...`` up to its last sample.

        States are interpolated linearly; actions are zero-order held (the action in force at
        a new time is the last one whose timestamp is ≤ it). See
        :func:`hybridwm.data.cleaning.resample`.
        """
        return TrajectorySet(cleaning.resample(self, dt, method))

    def with_time_scale(self, scale: float) -> TrajectorySet:
        """A copy with every time multiplied by ``scale`` (``0.001``: milliseconds → seconds);
        see :func:`hybridwm.data.cleaning.with_time_scale`."""
        return TrajectorySet(cleaning.with_time_scale(self, scale))

    def add_noise(self, level: float, *, seed: int | Sequence[int] = 0) -> TrajectorySet:
        """A copy with Gaussian noise of ``level`` × each state's std added to the states;
        see :func:`hybridwm.data.cleaning.add_noise`."""
        return TrajectorySet(cleaning.add_noise(self, level, seed=seed))

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

        Raises:
            ShapeError: if the shapes disagree.
            DataError: if values are missing or times are not strictly increasing.
        """
        x_arr = np.asarray(x, dtype=np.float64)
        if x_arr.ndim != 3:
            raise ShapeError(
                f"`x` of from_arrays must be 3-D (n, T, n_x). Got shape {x_arr.shape}; for a "
                f"single episode of shape (T, n_x) pass x[None]."
            )
        n, T, _ = x_arr.shape
        if n == 0:
            raise ShapeError("`x` of from_arrays holds no episode (n = 0).")
        u_arr = np.zeros((n, T, 0)) if u is None else np.asarray(u, dtype=np.float64)
        if u_arr.ndim != 3 or u_arr.shape[:2] != (n, T):
            raise ShapeError(
                f"`u` of from_arrays must have shape (n, T, n_u) = ({n}, {T}, n_u) to match "
                f"`x` {x_arr.shape}. Got {u_arr.shape}."
            )
        t_all = _per_episode_times(t, n, T)
        metas = _per_episode_meta(meta, n)
        trajs = []
        for i in range(n):
            try:
                trajs.append(
                    Trajectory(
                        t=t_all[i].copy(),
                        x=x_arr[i].copy(),
                        u=u_arr[i].copy(),
                        state_names=state_names,
                        action_names=action_names,
                        meta=metas[i],
                    )
                )
            except DataError as exc:
                raise type(exc)(f"Episode {i} of from_arrays: {exc}") from None
        return cls(trajs)

    def to_dataframe(self) -> pd.DataFrame:
        """Long-format DataFrame: columns ``episode, t, <states>, <actions>``, one row per sample.

        ``episode`` is the trajectory index (0..n-1). The time and episode columns are named
        ``t_`` / ``episode_`` if a state or action already uses the plain name. The hybridwm
        schema (names, roles, metadata) is kept in ``df.attrs["hybridwm"]`` so that
        ``TrajectorySet.from_dataframe(ts.to_dataframe())`` gives ``ts`` back exactly.
        """
        return episodes_to_frame(self)

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
            FormatError, DataError, ConfigError: as :meth:`read`.
        """
        if not isinstance(df, pd.DataFrame):
            raise FormatError(
                f"`df` of from_dataframe must be a pandas DataFrame. Got {type(df).__name__}."
            )
        spec = spec_for_frame(df, time, states, actions, episode, time_scale)
        return cls(
            frame_to_episodes(df, spec, source="the DataFrame", dropna=dropna, allow_nan=allow_nan)
        )

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
        """Read a set from a Parquet, CSV or NPZ file (also :func:`hybridwm.data.read_trajectories`).

        Args:
            path: the file. Its suffix (``.parquet``, ``.pq``, ``.csv``, ``.npz``) gives the
                format unless ``format`` is given.
            columns: how to read a file from elsewhere: a :class:`ColumnMapping`, a dict of its
                fields, or the path of a TOML/JSON file holding them. ``None`` uses the hybridwm
                schema stored in the file (files written by :meth:`write`).
            format: ``"parquet"``, ``"csv"`` or ``"npz"``, overriding the suffix.
            time_scale: factor from the file's time unit to seconds (e.g. ``0.001`` for ms).
                Give it here or in the mapping, not both.
            dropna: drop rows with a missing value (NaN/±inf) in the time, state or action
                columns before building episodes.
            allow_nan: keep missing state/action values; clean the result with
                ``.interpolate()`` or ``.dropna()``. Missing times are never kept.

        Returns:
            The episodes in order of first appearance in the file. Read through a mapping,
            each trajectory's ``meta`` is ``{"episode": <label in the file>}`` (without an
            episode column, no label) and ``"columns"``: the mapping as a dict
            (:meth:`ColumnMapping.to_dict`, with the time scale in force), which reads the same
            file again: ``ColumnMapping.from_dict(ts[0].meta["columns"])``.

        Raises:
            UnknownNameError: an unknown ``format`` name.
            FormatError: unknown suffix, missing/empty/corrupt file, no schema and no
                ``columns``, missing or non-numeric columns, ragged columns.
            DataError: missing values, unsorted or duplicate times, episodes under 2 samples.
            ConfigError: an invalid ``columns`` mapping or ``time_scale``.

        Warns:
            UserWarning: for constant columns and for unlisted columns of a hybridwm file.
        """
        episodes = read_episodes(
            path,
            columns=columns,
            format=format,
            time_scale=time_scale,
            dropna=dropna,
            allow_nan=allow_nan,
        )
        return cls(episodes)

    def write(self, path: str | os.PathLike[str], *, format: str | None = None) -> Path:
        """Write the set to a Parquet, CSV or NPZ file, atomically.

        The file is written to a temporary file next to ``path`` and renamed onto it only when
        complete, so an interrupted write leaves an existing ``path`` untouched.

        Args:
            path: destination; its suffix gives the format unless ``format`` is given. Parent
                folders are created.
            format: ``"parquet"``, ``"csv"`` or ``"npz"``, overriding the suffix.

        Returns:
            ``path`` as a Path.

        Raises:
            FormatError: unknown suffix.
            UnknownNameError: an unknown ``format`` name.
            DataError: an episode has fewer than 2 samples, a state and an action share a
                name, or a ``meta`` is not JSON-serialisable.
        """
        return write_episodes(self, path, format=format)


def _per_episode_times(t: Any, n: int, T: int) -> np.ndarray:
    """(n, T) times from a shared (T,) grid or (n, T) grids."""
    t_arr = np.asarray(t, dtype=np.float64)
    if t_arr.shape == (T,):
        return np.broadcast_to(t_arr, (n, T))
    if t_arr.shape == (n, T):
        return t_arr
    raise ShapeError(
        f"`t` of from_arrays must have shape (T,) = ({T},) or (n, T) = ({n}, {T}). Got "
        f"{t_arr.shape}."
    )


def _per_episode_meta(meta: dict[str, Any] | Sequence[dict[str, Any]] | None, n: int) -> list[dict]:
    """``n`` meta dicts from one dict for every episode or a list of ``n``."""
    if meta is None or isinstance(meta, dict):
        return [dict(meta or {}) for _ in range(n)]
    metas = [dict(m) for m in meta]
    if len(metas) != n:
        raise ShapeError(f"`meta` must be one dict or a list of n={n} dicts. Got {len(metas)}.")
    return metas
