"""Training windows: fixed-length pieces of episodes for multiple-shooting rollout losses.

A window holds ``horizon + 1`` consecutive samples of one episode. Windows whose time grids are
equal up to an offset (every window of uniformly sampled data, whatever the episode) share one
relative grid ``t - t[0]`` and are batched together in one :class:`WindowGroup`. Windows cut
from non-uniformly sampled episodes (jittered timestamps) are batched together too, in one group
per horizon whose ``t`` holds every window's own relative grid, (n, H+1): the integrators take
per-sample grids (see ``hybridwm.dynamics.integrate``), so losses are evaluated at the measured
times and actions are held between their own timestamps, without one group per window.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from hybridwm.data.trajectory import TrajectorySet
from hybridwm.errors import ConfigError, DataError

__all__ = ["WindowGroup", "Windows", "make_windows"]

#: The smallest training horizon (one step per window, so two samples).
MIN_HORIZON = 1


@dataclass(frozen=True)
class WindowGroup:
    """Windows that share one relative time grid.

    Attributes:
        t: (H+1,) relative times shared by the windows, ``t[0] = 0``; or (n, H+1) per-window
            relative times for windows of non-uniformly sampled episodes.
        x: (n, H+1, n_x) states/observations.
        u: (n, H+1, n_u) actions (``u[:, k]`` held on ``[t[k], t[k+1])``; the last row is unused
            by a rollout over this window).
        episode: (n,) index of the source episode of each window.
        start: (n,) index of each window's first sample in its episode.
    """

    t: np.ndarray
    x: np.ndarray
    u: np.ndarray
    episode: np.ndarray
    start: np.ndarray

    def __len__(self) -> int:
        return self.x.shape[0]

    def take(self, idx: np.ndarray) -> WindowGroup:
        """The windows at ``idx`` (same grid)."""
        t = self.t[idx] if self.t.ndim == 2 else self.t
        return WindowGroup(t, self.x[idx], self.u[idx], self.episode[idx], self.start[idx])

    @property
    def per_window_grid(self) -> bool:
        """True if every window has its own time grid (``t`` is (n, H+1))."""
        return self.t.ndim == 2


@dataclass(frozen=True)
class Windows:
    """All windows cut from a TrajectorySet, grouped by time grid.

    Attributes:
        groups: the :class:`WindowGroup` objects.
        horizon: H, the number of steps per window.
        state_names: names of the ``x`` columns.
        action_names: names of the ``u`` columns.
        lengths: number of samples of each source episode (``episode`` indexes them).
    """

    groups: tuple[WindowGroup, ...]
    horizon: int
    state_names: tuple[str, ...]
    action_names: tuple[str, ...]
    lengths: tuple[int, ...] | None = None

    def __len__(self) -> int:
        return sum(len(g) for g in self.groups)

    def __iter__(self) -> Iterator[WindowGroup]:
        return iter(self.groups)

    @property
    def uniform(self) -> bool:
        """True if all windows share one grid (a single group with a (H+1,) grid)."""
        return len(self.groups) == 1 and not self.groups[0].per_window_grid


def make_windows(
    data: TrajectorySet,
    horizon: int,
    *,
    stride: int = 1,
    grid_decimals: int = 9,
    ragged: bool = True,
) -> Windows:
    """Cut every window of ``horizon + 1`` samples from each episode.

    Args:
        data: the episodes (lengths and grids may differ).
        horizon: H >= 1, steps per window.
        stride: distance in samples between the starts of consecutive windows of one episode.
        grid_decimals: relative grids equal after rounding to this many decimals (relative to
            the window's mean step) are grouped together.
        ragged: batch the windows of non-uniformly sampled episodes in one group with
            per-window grids (``t`` of shape (n, H+1)); ``False`` gives each distinct grid its
            own group (the behaviour before per-sample grids existed).

    Returns:
        The windows, grouped by relative time grid.

    Raises:
        ConfigError: if ``horizon`` or ``stride`` is < 1.
        DataError: if an episode is shorter than ``horizon + 1`` samples.
    """
    if int(horizon) != horizon or horizon < MIN_HORIZON:
        raise ConfigError(f"`horizon` must be an integer >= {MIN_HORIZON}. Got {horizon!r}.")
    if int(stride) != stride or stride < 1:
        raise ConfigError(f"`stride` must be an integer >= 1. Got {stride!r}.")
    horizon, stride = int(horizon), int(stride)
    _check_long_enough(data, horizon)
    buckets, grids = _bucket_windows(data, horizon, stride, grid_decimals, ragged=ragged)
    groups = [_stack_group(data, horizon, items, grids.get(key)) for key, items in buckets.items()]
    return Windows(
        tuple(groups),
        horizon,
        tuple(data.state_names),
        tuple(data.action_names),
        tuple(int(n) for n in data.lengths),
    )


def _check_long_enough(data: TrajectorySet, horizon: int) -> None:
    """``DataError`` naming the shortest episode if it has fewer than ``horizon + 1`` samples."""
    lengths = data.lengths
    shortest = int(lengths.min())
    if horizon + 1 <= shortest:
        return
    short = np.flatnonzero(lengths < horizon + 1)
    i = int(np.argmin(lengths))
    label = data[i].meta.get("episode") if data[i].meta else None
    named = f"episode {label!r} (index {i})" if label is not None else f"episode {i}"
    more = f" ({len(short)} episodes are too short)" if len(short) > 1 else ""
    drop = f"data.filter(lambda tr: len(tr) > {horizon})"
    if shortest < MIN_HORIZON + 1:  # no horizon fits: the advice is to drop the episode
        raise DataError(
            f"The training horizon={horizon} needs {horizon + 1} samples per window (H+1), but "
            f"{named} has only {shortest} sample{more}, too few for any horizon (the smallest, "
            f"horizon={MIN_HORIZON}, needs {MIN_HORIZON + 1} samples). Drop the short episodes, "
            f"e.g. {drop} (keeps the episodes of {horizon + 1} samples or more), or join such a "
            f"sample to the episode it belongs to (give it that episode's label in the file)."
        )
    raise DataError(
        f"The training horizon={horizon} needs {horizon + 1} samples per window (H+1), but "
        f"{named} has only {shortest} samples{more}. Use a horizon <= {shortest - 1} "
        f"(`--horizon {shortest - 1}` / TrainConfig(horizon={shortest - 1})), or drop the "
        f"short episodes, e.g. {drop}."
    )


_PER_WINDOW = b"per-window"


def _bucket_windows(
    data: TrajectorySet, horizon: int, stride: int, grid_decimals: int, *, ragged: bool
) -> tuple[dict[bytes, list[tuple[int, int]]], dict[bytes, np.ndarray]]:
    """The (episode, start) of every window, bucketed by a key of its relative time grid.

    Returns:
        ``buckets``: key → windows in order; ``grids``: key → the (H+1,) relative grid the
        windows of that bucket share (absent for the per-window bucket of ragged grids).
    """
    buckets: dict[bytes, list[tuple[int, int]]] = {}
    grids: dict[bytes, np.ndarray] = {}
    for e, tr in enumerate(data):
        starts = range(0, len(tr) - horizon, stride)
        if tr.is_uniform:
            # every window of a uniform episode has the grid k * dt
            dt = float(tr.t[1] - tr.t[0])
            rel = np.arange(horizon + 1) * dt
            key = np.round(rel / dt, 0).tobytes() + np.round(dt, grid_decimals).tobytes()
            grids.setdefault(key, rel)
            buckets.setdefault(key, []).extend((e, s) for s in starts)
            continue
        if ragged:
            buckets.setdefault(_PER_WINDOW, []).extend((e, s) for s in starts)
            continue
        for s in starts:
            rel = tr.t[s : s + horizon + 1] - tr.t[s]
            scale = rel[-1] / horizon
            key = (
                np.round(rel / scale, grid_decimals).tobytes()
                + np.round(scale, grid_decimals).tobytes()
            )
            grids.setdefault(key, rel)
            buckets.setdefault(key, []).append((e, s))
    return buckets, grids


def _stack_group(
    data: TrajectorySet, horizon: int, items: list[tuple[int, int]], grid: np.ndarray | None
) -> WindowGroup:
    """The windows ``items`` (episode, start) as one group on ``grid`` (None: per-window grids)."""
    ep = np.array([i for i, _ in items], dtype=np.int64)
    st = np.array([s for _, s in items], dtype=np.int64)
    x = np.stack([data[int(i)].x[s : s + horizon + 1] for i, s in items])
    u = np.stack([data[int(i)].u[s : s + horizon + 1] for i, s in items])
    if grid is None:
        grid = np.stack([data[int(i)].t[s : s + horizon + 1] - data[int(i)].t[s] for i, s in items])
    return WindowGroup(grid, x, u, ep, st)
