"""Parameter: a named, optionally bounded or fixed, number that declared equations depend on."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Parameter"]


@dataclass(frozen=True)
class Parameter:
    """A named parameter of a declared prior.

    Attributes:
        name: the name used in the equations.
        value: current value.
        bounds: ``(lower, upper)``; ``None`` for either side means unbounded.
        fixed: if True the parameter is never fitted or trained.
    """

    name: str
    value: float
    bounds: tuple[float | None, float | None] | None = None
    fixed: bool = False

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any], name: str | None = None) -> Parameter:
        """Build from ``{"name": ..., "value": ..., "bounds": [lo, hi] | None, "fixed": bool}``
        (the form of :meth:`to_dict`); ``name`` replaces ``spec["name"]`` when given.

        Raises:
            KeyError: ``value`` (or ``name``) is missing.
            TypeError, ValueError: a value is not a number, or ``bounds`` is not a pair.
        """
        label = str(spec["name"] if name is None else name)
        value = float(spec["value"])
        bounds = spec.get("bounds")
        if bounds is not None:
            if not isinstance(bounds, (list, tuple)) or len(bounds) != 2:
                raise ValueError(
                    f"bounds of parameter {label!r} must be [lower, upper] (null for an open "
                    f"side). Got {bounds!r}."
                )
            bounds = tuple(None if b is None else float(b) for b in bounds)
        return cls(label, value, bounds, bool(spec.get("fixed", False)))

    def bounds_tuple(self) -> tuple[float, float]:
        """``(lo, hi)`` with ``-inf``/``inf`` for missing bounds."""
        lo, hi = self.bounds if self.bounds is not None else (None, None)
        return (-math.inf if lo is None else float(lo), math.inf if hi is None else float(hi))

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible form."""
        return {
            "name": self.name,
            "value": float(self.value),
            "bounds": None if self.bounds is None else list(self.bounds),
            "fixed": bool(self.fixed),
        }
