"""The Savitzky-Golay window of smoothed differentiation, chosen from the data.

Noisy states must be smoothed before they are differentiated, and the best window depends on
the noise and on how fast the signal moves: too short leaves the noise (amplified by the
derivative), too long flattens the signal. :func:`choose_window` picks it by generalized
cross-validation (GCV; Craven and Wahba 1979): a Savitzky-Golay filter of window ``w`` is a
linear smoother ``S_w`` whose diagonal (away from the ends) is the central filter weight
``h_w``, so the leave-one-out error of the smoothed states is estimated without refitting by

    GCV(w) = mean((x - S_w x)^2) / (1 - h_w)^2.

On noise-free data ``GCV`` grows with ``w`` and the shortest window wins (plain finite
differences up to the filter's order); with noise it falls until the window averages the noise
away and rises again once it bends the signal. Each state column gets its own curve; the chosen
window minimizes the sum of the curves, each divided by its own minimum (so that states of very
different scales count alike). ``sqrt(min GCV)`` estimates each state's noise level, reported
beside the choice.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import savgol_coeffs, savgol_filter

from hybridwm.data import TrajectorySet
from hybridwm.errors import DataError

__all__ = ["WindowChoice", "candidate_windows", "choose_window"]

#: successive candidate windows grow by about this factor
WINDOW_GROWTH = 1.3
#: the longest candidate window, as a fraction of the shortest trajectory
MAX_WINDOW_FRACTION = 0.5


@dataclass(frozen=True)
class WindowChoice:
    """A smoothing window chosen by GCV.

    Attributes:
        window: the chosen (odd) window length in samples.
        polyorder: the Savitzky-Golay polynomial order it was chosen for.
        windows: (m,) the candidate windows.
        scores: (m,) the combined GCV score of each candidate (1 per state at its own best).
        noise: per state, the estimated noise standard deviation (``sqrt(min GCV)``), in the
            state's units.
        relative_noise: per state, ``noise`` divided by the state's standard deviation.
    """

    window: int
    polyorder: int
    windows: tuple[int, ...]
    scores: tuple[float, ...]
    noise: dict[str, float]
    relative_noise: dict[str, float]

    def to_dict(self) -> dict[str, object]:
        """JSON-compatible record (what ``info["differentiation"]["window_choice"]`` holds)."""
        return {
            "window": self.window,
            "polyorder": self.polyorder,
            "rule": "generalized cross-validation of the smoothed states",
            "candidates": list(self.windows),
            "scores": [round(s, 6) for s in self.scores],
            "noise": self.noise,
            "relative_noise": self.relative_noise,
        }


def candidate_windows(polyorder: int, shortest: int) -> list[int]:
    """Odd windows from the shortest a ``polyorder`` filter allows up to half the shortest
    trajectory, growing geometrically (factor :data:`WINDOW_GROWTH`).

    Args:
        polyorder: Savitzky-Golay polynomial order (>= 0).
        shortest: samples in the shortest trajectory.

    Returns:
        The candidate windows, increasing (at least one).

    Raises:
        DataError: the shortest trajectory is too short for any window.
    """
    first = (polyorder + 2) | 1
    last = max(first, int(MAX_WINDOW_FRACTION * shortest))
    if shortest < first:
        raise DataError(
            f"The shortest trajectory has {shortest} samples, too few to smooth with "
            f"polyorder {polyorder} (needs at least {first}). Drop short trajectories, e.g. "
            f"`data.filter(lambda tr: len(tr) >= {first})`, or lower `polyorder`."
        )
    out = [first]
    while True:
        nxt = int(np.ceil(out[-1] * WINDOW_GROWTH)) | 1
        if nxt > last:
            break
        out.append(nxt)
    return out


def choose_window(data: TrajectorySet, polyorder: int = 3) -> WindowChoice:
    """The Savitzky-Golay window that minimizes the GCV score of the smoothed states.

    Args:
        data: the trajectories (their states are smoothed; actions are not used).
        polyorder: the filter's polynomial order.

    Returns:
        The :class:`WindowChoice` (window, candidates, scores and noise estimates).

    Raises:
        DataError: a trajectory is too short to smooth with ``polyorder``.
    """
    windows = candidate_windows(polyorder, int(data.lengths.min()))
    gcv = np.empty((len(windows), data.n_x))
    for j, w in enumerate(windows):
        h = float(savgol_coeffs(w, polyorder)[w // 2])
        sq = np.zeros(data.n_x)
        for tr in data:
            sq += ((tr.x - savgol_filter(tr.x, w, polyorder, axis=0)) ** 2).sum(axis=0)
        gcv[j] = sq / int(data.lengths.sum()) / (1.0 - h) ** 2
    best = gcv.min(axis=0)
    scores = (gcv / np.where(best > 0, best, 1.0)).sum(axis=1)
    if not np.any(best > 0):  # exact polynomials: every window reproduces them
        scores = np.arange(len(windows), dtype=np.float64)
    k = int(np.argmin(scores))
    noise = np.sqrt(best)
    std = np.concatenate([tr.x for tr in data], axis=0).std(axis=0)
    rel = noise / np.where(std > 0, std, 1.0)
    names = data.state_names
    return WindowChoice(
        window=windows[k],
        polyorder=polyorder,
        windows=tuple(windows),
        scores=tuple(float(s) for s in scores),
        noise={n: float(v) for n, v in zip(names, noise, strict=True)},
        relative_noise={n: float(v) for n, v in zip(names, rel, strict=True)},
    )
