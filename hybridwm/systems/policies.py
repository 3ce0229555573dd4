"""Open-loop action policies: seeded generators of action sequences within action bounds.

Every policy is a :class:`~hybridwm.config.Config` model (so its settings load from TOML, and
unknown or invalid settings raise :class:`~hybridwm.errors.ConfigError`) with one method::

    policy.sample(n, n_steps, dt, bounds, rng) -> actions   # (n, n_steps, n_u)

``actions[i, k]`` is held on ``[t_k, t_k + dt)``. ``amplitude`` is a fraction of the bounds'
half-range around their midpoint: 0.5 uses the middle half of the range, 1.0 all of it; values
above 1 push the signal into the bounds, where it is clipped. Every output is clipped to
``bounds``. Look policies up by name in :data:`POLICIES` or with :func:`make_policy`.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
from pydantic import Field, model_validator
from scipy.signal import lfilter

from hybridwm.config import Config, Integer, PositiveFloat
from hybridwm.errors import ConfigError, ShapeError
from hybridwm.registry import Registry

__all__ = [
    "POLICIES",
    "ChirpPolicy",
    "OUPolicy",
    "Policy",
    "RandomStepPolicy",
    "SinesPolicy",
    "ZeroPolicy",
    "check_bounds",
    "make_policy",
]


def check_bounds(bounds: Any, n_u: int | None = None) -> np.ndarray:
    """Validate action bounds.

    Args:
        bounds: (n_u, 2) array of ``[low, high]`` rows with finite ``low < high``.
        n_u: Expected number of rows, if known.

    Returns:
        The bounds as a float64 (n_u, 2) array.
    """
    b = np.asarray(bounds, dtype=np.float64)
    if b.ndim != 2 or b.shape[1] != 2 or (n_u is not None and b.shape[0] != n_u):
        want = f"({n_u}, 2)" if n_u is not None else "(n_u, 2)"
        raise ShapeError(
            f"`bounds` must have shape {want} (one [low, high] row per action). Got {b.shape}."
        )
    if not np.isfinite(b).all() or (b[:, 0] >= b[:, 1]).any():
        raise ConfigError(
            f"`bounds` must be finite with low < high in every row. Got {b.tolist()}."
        )
    return b


def _check_sample_args(n: int, n_steps: int, dt: float) -> None:
    for name, v in (("n", n), ("n_steps", n_steps)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
            raise ConfigError(
                f"`{name}` of Policy.sample must be an integer >= 1. Got {v!r} instead."
            )
    if not (math.isfinite(dt) and dt > 0):
        raise ConfigError(f"`dt` of Policy.sample must be > 0. Got {dt!r} instead.")


class Policy(Config):
    """Base class of the action policies (see the module docstring for the contract).

    Args:
        amplitude: Fraction (> 0) of the bounds' half-range the signal spans around the
            midpoint.

    Settings are numbers (a bool or a string is refused); every duration and frequency is a
    finite number > 0.
    """

    name: ClassVar[str] = "policy"
    #: pairs ``(low, high)`` of settings where ``high`` must be >= ``low``
    ordered: ClassVar[tuple[tuple[str, str], ...]] = ()
    amplitude: PositiveFloat = 0.5

    @model_validator(mode="after")
    def _settings_in_order(self) -> Policy:
        for low, high in self.ordered:
            lo, hi = getattr(self, low), getattr(self, high)
            if hi < lo:
                raise ConfigError(
                    f"`{high}` of policy {self.name!r} must be >= `{low}` ({lo}). Got {hi} instead."
                )
        return self

    def sample(
        self, n: int, n_steps: int, dt: float, bounds: Any, rng: np.random.Generator
    ) -> np.ndarray:
        """Draw ``n`` action sequences.

        Args:
            n: Number of sequences (trajectories).
            n_steps: Number of control periods per sequence.
            dt: Control period in seconds.
            bounds: (n_u, 2) ``[low, high]`` per action.
            rng: The generator all randomness comes from (same state → same actions).

        Returns:
            (n, n_steps, n_u) actions within ``bounds``.
        """
        _check_sample_args(n, n_steps, dt)
        b = check_bounds(bounds)
        unit = self._unit(int(n), int(n_steps), float(dt), b.shape[0], rng)
        mid = 0.5 * (b[:, 0] + b[:, 1])
        half = 0.5 * (b[:, 1] - b[:, 0])
        out = mid + (self.amplitude * half) * unit
        np.clip(out, b[:, 0], b[:, 1], out=out)
        return out

    def _unit(
        self, n: int, n_steps: int, dt: float, n_u: int, rng: np.random.Generator
    ) -> np.ndarray:
        """(n, n_steps, n_u) signal mostly in [-1, 1], before scaling by the amplitude."""
        raise NotImplementedError


class ZeroPolicy(Policy):
    """Actions at the midpoint of the bounds (zero for symmetric bounds)."""

    name: ClassVar[str] = "zero"

    def _unit(
        self, n: int, n_steps: int, dt: float, n_u: int, rng: np.random.Generator
    ) -> np.ndarray:
        return np.zeros((n, n_steps, n_u))


class RandomStepPolicy(Policy):
    """Piecewise-constant actions: uniform levels held for uniform random times.

    Args:
        amplitude: Fraction of the half-range the levels are drawn from.
        hold_min: Shortest hold time in seconds (at least one control period).
        hold_max: Longest hold time in seconds (>= ``hold_min``).
    """

    name: ClassVar[str] = "random"
    ordered: ClassVar[tuple[tuple[str, str], ...]] = (("hold_min", "hold_max"),)
    hold_min: PositiveFloat = 0.05
    hold_max: PositiveFloat = 0.5

    def _unit(
        self, n: int, n_steps: int, dt: float, n_u: int, rng: np.random.Generator
    ) -> np.ndarray:
        min_steps = max(1, round(self.hold_min / dt))
        max_steps = max(min_steps, round(self.hold_max / dt))
        n_seg = n_steps // min_steps + 1
        holds = rng.integers(min_steps, max_steps + 1, size=(n, n_seg))
        starts = np.cumsum(holds, axis=1)  # step at which segment j+1 begins; increasing per row
        marks = np.zeros((n, n_steps), dtype=np.int64)
        rows = np.broadcast_to(np.arange(n)[:, None], starts.shape)
        inside = starts < n_steps
        marks[rows[inside], starts[inside]] = 1
        segment = np.cumsum(marks, axis=1)
        levels = rng.uniform(-1.0, 1.0, size=(n, n_seg, n_u))
        return np.take_along_axis(levels, segment[:, :, None], axis=1)


class SinesPolicy(Policy):
    """A sum of sinusoids with random frequencies, phases and weights, sampled every ``dt``.

    Args:
        amplitude: Fraction of the half-range the sum peaks at (at most).
        n_components: Number of sinusoids per action (an integer >= 1).
        f_min: Lowest frequency in Hz.
        f_max: Highest frequency in Hz, >= ``f_min`` (frequencies are log-uniform in between).
    """

    name: ClassVar[str] = "sines"
    ordered: ClassVar[tuple[tuple[str, str], ...]] = (("f_min", "f_max"),)
    n_components: Integer = Field(default=3, ge=1)
    f_min: PositiveFloat = 0.1
    f_max: PositiveFloat = 1.0

    def _unit(
        self, n: int, n_steps: int, dt: float, n_u: int, rng: np.random.Generator
    ) -> np.ndarray:
        k = self.n_components
        freq = np.exp(rng.uniform(math.log(self.f_min), math.log(self.f_max), size=(n, 1, n_u, k)))
        phase = rng.uniform(0.0, 2 * math.pi, size=(n, 1, n_u, k))
        w = rng.uniform(0.2, 1.0, size=(n, 1, n_u, k))
        w /= w.sum(axis=-1, keepdims=True)
        t = (dt * np.arange(n_steps))[None, :, None, None]
        return np.einsum(
            "ntuk,ntuk->ntu",
            np.broadcast_to(w, (n, n_steps, n_u, k)),
            np.sin(2 * math.pi * freq * t + phase),
        )


class ChirpPolicy(Policy):
    """A linear frequency sweep from ``f_start`` to ``f_end`` Hz over the horizon, random phase.

    Args:
        amplitude: Fraction of the half-range of the sweep.
        f_start: Frequency at the first step (Hz).
        f_end: Frequency at the last step (Hz).
    """

    name: ClassVar[str] = "chirp"
    f_start: PositiveFloat = 0.1
    f_end: PositiveFloat = 2.0

    def _unit(
        self, n: int, n_steps: int, dt: float, n_u: int, rng: np.random.Generator
    ) -> np.ndarray:
        horizon = max(dt * n_steps, dt)
        t = (dt * np.arange(n_steps))[None, :, None]
        phase = rng.uniform(0.0, 2 * math.pi, size=(n, 1, n_u))
        arg = 2 * math.pi * (self.f_start * t + 0.5 * (self.f_end - self.f_start) * t**2 / horizon)
        return np.sin(arg + phase)


class OUPolicy(Policy):
    """An Ornstein-Uhlenbeck process (exactly discretised), started from its stationary law.

    Args:
        amplitude: Twice the stationary standard deviation as a fraction of the half-range
            (about 95% of the samples fall within ``amplitude`` before clipping).
        tau: Correlation time in seconds.
    """

    name: ClassVar[str] = "ou"
    tau: PositiveFloat = 0.3

    def _unit(
        self, n: int, n_steps: int, dt: float, n_u: int, rng: np.random.Generator
    ) -> np.ndarray:
        a = math.exp(-dt / self.tau)
        std = 0.5
        noise = rng.standard_normal((n, n_steps, n_u))
        x0 = std * noise[:, :1, :]
        drive = std * math.sqrt(1.0 - a * a) * noise[:, 1:, :]
        rest = lfilter([1.0], [1.0, -a], drive, axis=1, zi=a * x0)[0]
        return np.concatenate([x0, rest], axis=1)


POLICIES: Registry[type[Policy]] = Registry("policy", "`policy`")
for _cls in (ZeroPolicy, RandomStepPolicy, SinesPolicy, ChirpPolicy, OUPolicy):
    POLICIES.register(_cls.name, _cls)


def make_policy(name: str, **kwargs: Any) -> Policy:
    """Build the policy registered as ``name`` with settings ``kwargs``.

    Raises:
        UnknownNameError: if ``name`` is not in :data:`POLICIES` (the message lists them).
        ConfigError: if a setting is unknown (valid ones are listed) or invalid.
    """
    cls = POLICIES[name]
    try:
        return cls.from_dict(dict(kwargs))
    except ConfigError as exc:
        raise ConfigError(f"Policy {name!r}: {exc}") from None
