"""Argument checks shared by the gymnasium adapters: counts, durations, option mappings and
user arrays, each raising the HybridWMError that names the argument and the fix."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from hybridwm.errors import ConfigError, ShapeError

__all__ = ["count", "float_array", "is_number", "known_keys", "non_negative_int", "seconds"]


def is_number(value: Any) -> bool:
    """True for a real int or float (numpy's too), not a bool."""
    numeric = isinstance(value, (int, float, np.integer, np.floating))
    return numeric and not isinstance(value, bool)


def count(value: Any, label: str, *, allow_none: bool = False) -> int | None:
    """``value`` as an int >= 1 (None passes when ``allow_none``), else ConfigError naming
    ``label`` (e.g. ``"`episodes` of collect"``)."""
    if value is None and allow_none:
        return None
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        also = " or None" if allow_none else ""
        raise ConfigError(f"{label} must be an integer >= 1{also}. Got {value!r}.")
    return int(value)


def non_negative_int(value: Any, label: str) -> int:
    """``value`` as an int >= 0, else ConfigError naming ``label``."""
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0:
        raise ConfigError(f"{label} must be an integer >= 0. Got {value!r}.")
    return int(value)


def seconds(value: Any, label: str, meaning: str = "a number > 0") -> float:
    """``value`` as a finite float > 0, else ConfigError: "``label`` must be ``meaning``"."""
    if not is_number(value) or not (math.isfinite(float(value)) and float(value) > 0):
        raise ConfigError(f"{label} must be {meaning}. Got {value!r}.")
    return float(value)


def known_keys(
    value: Any, valid: tuple[str, ...], label: str, what: str, error: type = ConfigError
) -> dict[str, Any]:
    """``value`` as a dict whose keys are all in ``valid``.

    Args:
        value: the mapping to check.
        valid: the allowed keys.
        label: the argument, e.g. ``"`options` of reset"``.
        what: what a key names, e.g. ``"key"`` or ``"parameter"``.
        error: the class raised for unknown keys.

    Raises:
        ConfigError: ``value`` is not a mapping. ``error``: an unknown key (valid ones listed).
    """
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"{label} must be a mapping with {what}s among {list(valid)}. Got "
            f"{type(value).__name__}."
        )
    unknown = sorted(str(k) for k in value if k not in valid)
    if unknown:
        raise error(f"Unknown {what}(s) {unknown} in {label}; valid {what}s: {list(valid)}.")
    return dict(value)


def float_array(value: Any, label: str) -> np.ndarray:
    """``value`` as a float64 array, else ShapeError naming ``label``."""
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ShapeError(f"{label} must be numeric; got {type(value).__name__}.") from None
