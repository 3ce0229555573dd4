"""Training windows: fixed-length pieces of episodes for multiple-shooting rollout losses.

A window holds ``horizon + 1`` consecutive samples of one episode. Windows whose time grids are
equal up to an offset (every window of uniformly sampled data, whatever the episode) share one
relative grid ``t - t[0]`` and are batched together in one :class:`WindowGroup`; windows on
other grids get groups of their own, so non-uniform data stay exact (only slower).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from hybridwm.data.trajectory import TrajectorySet
from hybridwm.errors import ConfigError, DataError

__all__ = ["WindowGroup", "Windows", "make_windows"]


@dataclass(frozen=True)
class WindowGroup:
    """Windows that share one relative time grid.

    Attributes:
        t: (H+1,) relative times, ``t[0] = 0``.
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
        return WindowGroup(self.t, self.x[idx], self.u[idx], self.episode[idx], self.start[idx])


@dataclass(frozen=True)
class Windows:
    """All windows cut from a TrajectorySet, grouped by time grid.

    Attributes:
        groups: the :class:`WindowGroup` objects.
        horizon: H, the number of steps per window.
        state_names: names of the ``x`` columns.
        action_names: names of the ``u`` columns.
    """

    groups: tuple[WindowGroup, ...]
    horizon: int
    state_names: tuple[str, ...]
    action_names: tuple[str, ...]

    def __len__(self) -> int:
        return sum(len(g) for g in self.groups)

    def __iter__(self) -> Iterator[WindowGroup]:
        return iter(self.groups)

    @property
    def uniform(self) -> bool:
        """True if all windows share one grid (a single group)."""
        return len(self.groups) == 1


def make_windows(
    data: TrajectorySet,
    horizon: int,
    *,
    stride: int = 1,
    grid_decimals: int = 9,
) -> Windows:
    """Cut every window of ``horizon + 1`` samples from each episode.

    Args:
        data: the episodes (lengths and grids may differ).
        horizon: H >= 1, steps per window.
        stride: distance in samples between the starts of consecutive windows of one episode.
        grid_decimals: relative grids equal after rounding to this many decimals (relative to
            the window's mean step) are grouped together.

    Returns:
        The windows, grouped by relative time grid.

    Raises:
        ConfigError: if ``horizon`` or ``stride`` is < 1.
        DataError: if an episode is shorter than ``horizon + 1`` samples.
    """
    if int(horizon) != horizon or horizon < 1:
        raise ConfigError(f"`horizon` must be an integer >= 1. Got {horizon!r}.")
    if int(stride) != stride or stride < 1:
        raise ConfigError(f"`stride` must be an integer >= 1. Got {stride!r}.")
    horizon, stride = int(horizon), int(stride)
    lengths = data.lengths
    shortest = int(lengths.min())
    if horizon + 1 > shortest:
        i = int(np.argmin(lengths))
        raise DataError(
            f"horizon={horizon} needs {horizon + 1} samples per window, but the shortest "
            f"episode (index {i}) has only {shortest} samples. Use horizon <= {shortest - 1}, "
            f"or drop the short episodes, e.g. data.filter(lambda tr: len(tr) > {horizon})."
        )
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
        for s in starts:
            rel = tr.t[s : s + horizon + 1] - tr.t[s]
            scale = rel[-1] / horizon
            key = (
                np.round(rel / scale, grid_decimals).tobytes()
                + np.round(scale, grid_decimals).tobytes()
            )
            grids.setdefault(key, rel)
            buckets.setdefault(key, []).append((e, s))
    groups = []
    for key, items in buckets.items():
        ep = np.array([i for i, _ in items], dtype=np.int64)
        st = np.array([s for _, s in items], dtype=np.int64)
        x = np.stack([data[int(i)].x[s : s + horizon + 1] for i, s in items])
        u = np.stack([data[int(i)].u[s : s + horizon + 1] for i, s in items])
        groups.append(WindowGroup(grids[key], x, u, ep, st))
    return Windows(tuple(groups), horizon, tuple(data.state_names), tuple(data.action_names))
