"""Calibration of predictive distributions: interval coverage vs horizon, CRPS, Gaussian NLL,
and a recalibration of the predicted spread fitted on validation data.

Array conventions:
    * ``true`` is (n_episodes, T, n_x), or a list of (T_e, n_x) episodes of any lengths, which
      :func:`pad_episodes` stacks into (n_episodes, max T_e, n_x) padded with NaN. A NaN in
      ``true`` is padding: every function leaves those samples out.
    * ``mean`` and ``std`` have ``true``'s shape: the predictive mean and standard deviation of
      each sample; ``samples`` has an extra leading axis of ``M`` draws (ensemble members).
    * Step ``k`` of an episode is ``k`` samples after its start (horizon ``k``); the first sample
      is the given initial state, predicted exactly, with zero spread.

Recalibration (a floor and a scale factor per horizon band and state, as in split-conformal
prediction): on validation episodes, within each band of horizons ``[1, 2)``, ``[2, 4)``,
``[4, 8)``, ..., the recalibrated spread is ``sqrt((c std)^2 + b^2)``: a factor ``c`` on the
members' spread and a floor ``b`` added in quadrature. Their mix is the one under which the
errors ``y - mean`` are likeliest as Gaussians (a plain factor, ``b = 0``, unless the floor
pays for its parameter by BIC); their size then makes the central Gaussian ``level`` interval
``mean ± Phi^-1((1 + level) / 2) sqrt((c std)^2 + b^2)`` cover ``level`` of the validation
samples (the ``level`` quantile of the errors in those units). Bands double in width because
the spread grows with the horizon and far horizons have fewer samples. Each band's values apply
at the geometric centre of the steps it was fitted on and are interpolated geometrically in
``log2(step)`` between centres (exact for widths that grow as a power of the horizon).

The floor is what keeps the interval honest when the members agree more closely than they are
right, e.g. hybrid members that share an almost exact physics term and switch their residuals
off: a scale factor on a spread of ~0 is still ~0, while the floor gives those bands the
validation errors' own width. Where the spread does explain the errors (members that disagree
where they are wrong), BIC keeps ``b = 0`` and the factor alone does the work.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import erf, ndtri

from hybridwm.errors import ConfigError, FormatError, ShapeError

__all__ = [
    "Recalibration",
    "crps_ensemble",
    "crps_gaussian",
    "fit_recalibration",
    "gaussian_interval",
    "gaussian_nll",
    "interval_coverage",
    "pad_episodes",
]


def pad_episodes(arrays: Any, name: str = "true") -> np.ndarray:
    """(n_episodes, max T_e, n_x) float array of a 3-D array or a list of (T_e, n_x) episodes,
    padded with NaN after each shorter episode's end.

    Raises:
        ShapeError: not 3-D, or episodes with different numbers of states.
    """
    if isinstance(arrays, np.ndarray) or not isinstance(arrays, Sequence):
        out = np.asarray(arrays, dtype=np.float64)
        if out.ndim != 3:
            raise ShapeError(
                f"`{name}` must be (n_episodes, T, n_x) or a list of (T_e, n_x) episodes. Got "
                f"shape {out.shape}."
            )
        return out
    eps = [np.asarray(a, dtype=np.float64) for a in arrays]
    if not eps or any(e.ndim != 2 for e in eps) or len({e.shape[1] for e in eps}) != 1:
        shapes = [e.shape for e in eps]
        raise ShapeError(
            f"`{name}` must be a non-empty list of (T_e, n_x) episodes with one n_x. Got "
            f"shapes {shapes[:5]}."
        )
    out = np.full((len(eps), max(len(e) for e in eps), eps[0].shape[1]), np.nan)
    for i, e in enumerate(eps):
        out[i, : len(e)] = e
    return out


def _check_level(level: float) -> float:
    if not isinstance(level, (int, float)) or not 0.0 < float(level) < 1.0:
        raise ConfigError(f"`level` must be a number in (0, 1), e.g. 0.9. Got {level!r}.")
    return float(level)


def _same_shape(**arrays: np.ndarray) -> None:
    shapes = {k: v.shape for k, v in arrays.items()}
    if len(set(shapes.values())) != 1:
        raise ShapeError(f"The arrays must have one shape; got {shapes}.")


def gaussian_interval(mean: Any, std: Any, level: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
    """The central ``level`` interval of a Gaussian: ``mean ± Phi^-1((1+level)/2) · std``.

    Args:
        mean: (...) predictive means.
        std: (...) predictive standard deviations (>= 0), ``mean``'s shape.
        level: the interval's probability, in (0, 1).

    Returns:
        ``(lower, upper)``, each ``mean``'s shape.
    """
    z = float(ndtri(0.5 + _check_level(level) / 2))
    m, s = np.asarray(mean, dtype=np.float64), np.asarray(std, dtype=np.float64)
    _same_shape(mean=m, std=s)
    return m - z * s, m + z * s


def interval_coverage(lower: Any, upper: Any, true: Any) -> np.ndarray:
    """Coverage against horizon: the fraction of samples inside their interval at each step.

    Args:
        lower: (n_episodes, T, n_x) lower ends (or a list of (T_e, n_x) episodes).
        upper: upper ends, ``lower``'s shape.
        true: the truth, ``lower``'s shape (NaN = padding, left out).

    Returns:
        (T,) fraction over episodes and states of ``lower <= true <= upper`` at each step; NaN
        at a step no episode reaches. A NaN/inf bound (diverged prediction) does not cover.
    """
    lo, hi = pad_episodes(lower, "lower"), pad_episodes(upper, "upper")
    y = pad_episodes(true)
    _same_shape(lower=lo, upper=hi, true=y)
    there = ~np.isnan(y)
    with np.errstate(invalid="ignore"):
        inside = (lo <= y) & (y <= hi) & there
    n = there.sum(axis=(0, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, inside.sum(axis=(0, 2)) / np.maximum(n, 1), np.nan)


def crps_ensemble(samples: Any, true: Any) -> np.ndarray:
    """Continuous ranked probability score of an ensemble, per sample (lower is better).

    ``CRPS = mean_i |X_i - y| - (1 / 2M^2) sum_ij |X_i - X_j|`` (the empirical distribution of
    the ``M`` draws; Gneiting & Raftery 2007), in the data's units.

    Args:
        samples: (M, ...) draws, e.g. (M, n_episodes, T, n_x) member rollouts.
        true: (...) the truth.

    Returns:
        (...) CRPS of each sample (NaN where ``true`` is NaN or a draw is not finite).
    """
    x = np.asarray(samples, dtype=np.float64)
    y = np.asarray(true, dtype=np.float64)
    if x.ndim < 1 or x.shape[1:] != y.shape:
        raise ShapeError(
            f"`samples` must be (M, *true.shape) = (M, {', '.join(map(str, y.shape))}). Got "
            f"{x.shape}."
        )
    with np.errstate(invalid="ignore"):
        spread = np.abs(x[:, None] - x[None]).mean(axis=(0, 1))
        out = np.abs(x - y).mean(axis=0) - 0.5 * spread
    return np.where(np.isfinite(x).all(axis=0), out, np.nan)


def crps_gaussian(mean: Any, std: Any, true: Any) -> np.ndarray:
    """CRPS of Gaussian predictions ``N(mean, std^2)``, per sample (closed form); ``std = 0``
    gives the absolute error.

    Args:
        mean: (...) predictive means.
        std: (...) standard deviations (>= 0).
        true: (...) the truth.

    Returns:
        (...) CRPS in the data's units.
    """
    m, s, y = (np.asarray(a, dtype=np.float64) for a in (mean, std, true))
    _same_shape(mean=m, std=s, true=y)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (y - m) / s
        pdf = np.exp(-0.5 * z**2) / np.sqrt(2 * np.pi)
        cdf = 0.5 * (1 + erf(z / np.sqrt(2)))
        out = s * (z * (2 * cdf - 1) + 2 * pdf - 1 / np.sqrt(np.pi))
    return np.where(s > 0, out, np.abs(y - m))


def gaussian_nll(mean: Any, std: Any, true: Any) -> np.ndarray:
    """Negative log-likelihood of the truth under ``N(mean, std^2)``, per sample.

    Args:
        mean: (...) predictive means.
        std: (...) standard deviations; a zero spread gives ``inf`` unless the error is zero
            too (leave the exact initial state out).
        true: (...) the truth.

    Returns:
        (...) ``0.5 log(2 pi std^2) + (y - mean)^2 / (2 std^2)`` in nats.
    """
    m, s, y = (np.asarray(a, dtype=np.float64) for a in (mean, std, true))
    _same_shape(mean=m, std=s, true=y)
    with np.errstate(invalid="ignore", divide="ignore"):
        return 0.5 * np.log(2 * np.pi * s**2) + (y - m) ** 2 / (2 * s**2)


@dataclass(frozen=True)
class Recalibration:
    """Floors and scale factors of the predicted spread per horizon band and state (see the
    module docstring); fitted by :func:`fit_recalibration`, saved as JSON with its model.

    Attributes:
        level: the interval probability the factors were fitted for.
        starts: (K,) first step of each horizon band (1, 2, 4, ...); band ``k`` covers the
            steps from ``starts[k]`` up to ``starts[k+1]`` (the last one runs on).
        scale: (K, n_x) factor of each band and state (>= 0; 0 where the spread carries no
            information and the floor alone gives the width), fitted on the band's samples
            and applied at the geometric centre of the steps it was fitted on (``centres``),
            interpolated geometrically in ``log2(step)`` between centres (linearly for a
            state with a zero value; constant beyond the first and last).
        floor: (K, n_x) spread added in quadrature to the scaled one (>= 0, in the states'
            units), interpolated like ``scale``; ``None`` (files written before floors
            existed) means zeros.
        centres: (K,) step at which each band's values apply, ``sqrt(first * last)`` of the
            band's fitted steps (the last band ends with the validation episodes); ``None``
            (older files) means ``starts * sqrt(2)``.
    """

    level: float
    starts: np.ndarray
    scale: np.ndarray
    floor: np.ndarray | None = None
    centres: np.ndarray | None = None

    def _per_step(self, values: np.ndarray, n_steps: int) -> np.ndarray:
        """(n_steps, n_x) band values between the bands' centres, so the interval has no
        steps: geometric in ``log2(step)`` (exact for widths that grow as a power of the
        horizon) where a state's values are all positive, linear otherwise and in files
        written before ``centres`` existed (as they were then)."""
        at = np.log2(np.maximum(np.arange(n_steps), 1))
        if self.centres is None:
            centres = np.log2(self.starts) + 0.5
            return np.stack([np.interp(at, centres, col) for col in values.T], 1)
        centres = np.log2(self.centres)
        cols = [
            np.exp(np.interp(at, centres, np.log(col)))
            if np.all(col > 0)
            else np.interp(at, centres, col)
            for col in values.T
        ]
        return np.stack(cols, 1)

    def terms(self, n_steps: int) -> tuple[np.ndarray, np.ndarray]:
        """``(factor, floor)``, each (n_steps, n_x), of steps 0..n_steps-1: the recalibrated
        spread of step ``k`` is ``sqrt((factor[k] std)^2 + floor[k]^2)``; step 0 (the given
        initial state) has factor 1 and floor 0."""
        factor = self._per_step(self.scale, n_steps)
        floor = np.zeros_like(factor) if self.floor is None else self._per_step(self.floor, n_steps)
        first = np.arange(n_steps)[:, None] < 1
        return np.where(first, 1.0, factor), np.where(first, 0.0, floor)

    def apply(self, std: Any) -> np.ndarray:
        """The recalibrated spread of ``std`` (..., T, n_x): each step's
        ``sqrt((factor std)^2 + floor^2)`` (step 0, the given initial state, keeps its
        spread)."""
        s = np.asarray(std, dtype=np.float64)
        if s.ndim < 2 or s.shape[-1] != self.scale.shape[1]:
            raise ShapeError(
                f"`std` must be (..., T, n_x) with n_x = {self.scale.shape[1]}. Got {s.shape}."
            )
        factor, floor = self.terms(s.shape[-2])
        return np.sqrt((factor * s) ** 2 + floor**2)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``from_dict`` reads it back)."""
        out = {"level": self.level, "starts": self.starts.tolist(), "scale": self.scale.tolist()}
        for name in ("floor", "centres"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name).tolist()
        return out

    @classmethod
    def from_dict(cls, data: Any, source: str = "recalibration") -> Recalibration:
        """Read :meth:`to_dict`'s form back, checked (``floor`` and ``centres`` may be absent,
        as in files written before them).

        Raises:
            FormatError: a field is missing or malformed (naming ``source``).
        """
        try:
            level = float(data["level"])
            starts = np.asarray(data["starts"], dtype=np.int64)
            scale = np.asarray(data["scale"], dtype=np.float64)
            floor, centres = (data.get(k) for k in ("floor", "centres"))
            floor = None if floor is None else np.asarray(floor, dtype=np.float64)
            centres = None if centres is None else np.asarray(centres, dtype=np.float64)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise FormatError(
                f"{source} must hold `level`, `starts` and `scale` ({exc!r}); refit it with "
                f"fit_recalibration or calibrate()."
            ) from None
        ok = 0 < level < 1 and starts.ndim == 1 and scale.ndim == 2
        ok = ok and len(starts) == len(scale) > 0 and bool(np.all(np.diff(starts) > 0))
        widths = np.zeros_like(scale) if floor is None else floor
        ok = ok and widths.shape == scale.shape and bool(np.all(np.isfinite(widths)))
        ok = ok and bool(np.all(np.isfinite(scale))) and bool(np.all(widths >= 0))
        ok = ok and (centres is None or _increasing_from_one(centres, len(starts)))
        if not ok or not np.all(scale >= 0) or not np.all(scale + widths > 0):
            raise FormatError(
                f"{source} is malformed: `level` in (0, 1), increasing `starts` (K,), "
                f"finite `scale` (K, n_x) >= 0 and a `floor` of `scale`'s shape (>= 0), not "
                f"both 0, and increasing `centres` (K,) >= 1 expected; refit it."
            )
        return cls(level, starts, scale, floor, centres)


def fit_recalibration(mean: Any, std: Any, true: Any, *, level: float = 0.9) -> Recalibration:
    """Fit the spread's floors and scale factors on validation predictions (see the module
    docstring).

    Args:
        mean: (n_episodes, T, n_x) predictive means (or a list of (T_e, n_x) episodes).
        std: their predicted standard deviations, ``mean``'s shape.
        true: the validation truth, ``mean``'s shape (NaN = padding).
        level: the interval probability to match, in (0, 1).

    Returns:
        A :class:`Recalibration` with one band per power of two up to the longest episode; a
        band or state with no usable sample (diverged) keeps the factor 1 and floor 0.

    Raises:
        ShapeError: the shapes differ, or the episodes have fewer than 2 samples.
    """
    level = _check_level(level)
    m, s, y = pad_episodes(mean, "mean"), pad_episodes(std, "std"), pad_episodes(true)
    _same_shape(mean=m, std=s, true=y)
    if y.shape[1] < 2:
        raise ShapeError("Recalibration needs episodes of at least 2 samples (one step ahead).")
    with np.errstate(invalid="ignore"):
        err = y - m
        usable = np.isfinite(err) & np.isfinite(s) & (s >= 0)
    starts = 2 ** np.arange(int(np.log2(y.shape[1] - 1)) + 1)
    scale, floor = np.ones((len(starts), y.shape[2])), np.zeros((len(starts), y.shape[2]))
    centres = np.empty(len(starts))
    for k, lo in enumerate(starts):
        hi = starts[k + 1] if k + 1 < len(starts) else y.shape[1]
        centres[k] = np.sqrt(lo * (hi - 1))
        for i in range(y.shape[2]):
            ok = usable[:, lo:hi, i]
            scale[k, i], floor[k, i] = _band_terms(
                np.abs(err[:, lo:hi, i][ok]), s[:, lo:hi, i][ok], level
            )
    return Recalibration(level, starts.astype(np.int64), scale, floor, centres)


def _increasing_from_one(values: np.ndarray, n: int) -> bool:
    """Whether ``values`` is (n,), finite, >= 1 and strictly increasing (band centres)."""
    ok = values.shape == (n,) and bool(np.all(np.isfinite(values)))
    return ok and bool(np.all(values >= 1)) and bool(np.all(np.diff(values) > 0))


def _band_terms(err: np.ndarray, std: np.ndarray, level: float) -> tuple[float, float]:
    """``(factor, floor)`` of one band and state from its (n,) absolute errors and spreads.

    The recalibrated spread is ``B sqrt(w (std / s)^2 + 1 - w)``, ``s`` the spreads' RMS:
    ``w`` (0: a constant width, 1: a factor on the spread alone) maximises the Gaussian
    likelihood of the errors with the best ``B`` for each ``w`` (profiled out), over 101
    values; ``w = 1`` (the plain factor) is kept unless the other raises the log-likelihood by
    more than BIC's ``log(n) / 2`` for its one parameter. ``B`` then matches ``level``'s
    quantile. Returned as ``factor = B sqrt(w) / s``, ``floor = B sqrt(1 - w)``.
    """
    if not err.size:
        return 1.0, 0.0
    rms = float(np.sqrt(np.mean(std**2)))
    w = np.linspace(1.0, 0.0, 101) if rms > 0 else np.zeros(1)
    ratio = std / rms if rms > 0 else np.zeros_like(std)
    var = w[:, None] * ratio[None, :] ** 2 + (1 - w[:, None])  # (W, n), relative
    with np.errstate(divide="ignore", invalid="ignore"):
        profile = np.log(var).mean(1) + np.log((err[None, :] ** 2 / var).mean(1))
    profile = np.where(np.isfinite(profile), profile, np.inf)
    best = int(np.argmin(profile))
    if 0.5 * err.size * (profile[0] - profile[best]) <= 0.5 * np.log(err.size):
        best = 0  # w[0] is 1 whenever the spread is not all zero
    if not np.isfinite(profile[best]):
        return 1.0, 0.0  # errors and spreads all zero
    rel = np.sqrt(var[best])
    with np.errstate(divide="ignore", invalid="ignore"):
        z = err[rel > 0] / rel[rel > 0]
    big = float(np.quantile(z, level)) / float(ndtri(0.5 + level / 2)) if z.size else 0.0
    if big <= 0:
        return 1.0, 0.0
    factor = big * np.sqrt(w[best]) / rms if rms > 0 else 0.0
    return float(factor), float(big * np.sqrt(1 - w[best]))
