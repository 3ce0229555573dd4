"""Parameter: a physical parameter of a system that can be overridden, with its valid range."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from hybridwm.errors import ConfigError

__all__ = ["Parameter"]


@dataclass(frozen=True)
class Parameter:
    """A physical parameter of a system that can be overridden.

    Attributes:
        name: The name used in ``with_parameters(name=...)``, scenarios and configs.
        default: Default value (the value in the MJCF model).
        description: What it is, with its unit.
        minimum: Lower bound of valid values.
        inclusive: Whether ``minimum`` itself is valid (``False`` → strictly greater).
    """

    name: str
    default: float
    description: str
    minimum: float = 0.0
    inclusive: bool = False

    def check(self, value: Any, system: str) -> float:
        """Return ``value`` as a float or raise ``ConfigError`` saying what is valid."""
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise ConfigError(
                f"Parameter `{self.name}` of {system} must be a number. Got {value!r} instead."
            ) from None
        ok = math.isfinite(v) and (v >= self.minimum if self.inclusive else v > self.minimum)
        if not ok:
            rel = ">=" if self.inclusive else ">"
            raise ConfigError(
                f"Parameter `{self.name}` of {system} ({self.description}) must be finite and "
                f"{rel} {self.minimum:g}. Got {v!r} instead; non-physical values cannot be "
                f"simulated."
            )
        return v
