"""Small checks shared by the data modules and the layers above them.

Each helper writes one message pattern once: where the first missing value of an array is,
which required entries a mapping lacks, whether a setting is a finite number in range, a
sentence that starts with a name, and a warning attributed to the user's line rather than to a
line inside ``hybridwm.data``.
"""

from __future__ import annotations

import inspect
import math
import os
import warnings
from collections.abc import Callable, Container, Iterable
from typing import Any, NamedTuple

import numpy as np

from hybridwm.errors import ConfigError

__all__ = [
    "MissingValue",
    "capitalized",
    "check_number",
    "first_missing",
    "require_keys",
    "warn_caller",
]

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


class MissingValue(NamedTuple):
    """Where a missing value is: ``row`` and ``column`` of a 2-D array, ``kind`` "NaN" or "inf"."""

    row: int
    column: int
    kind: str


def first_missing(values: np.ndarray) -> MissingValue | None:
    """The first missing value (NaN or ±inf) of a 2-D array, in row-major order.

    Args:
        values: (N, n) array of floats.

    Returns:
        Its row, column and kind (``"NaN"`` or ``"inf"``), or ``None`` if every value is finite.
    """
    bad = ~np.isfinite(values)
    if not bad.any():
        return None
    row, col = (int(v) for v in np.argwhere(bad)[0])
    return MissingValue(row, col, "NaN" if np.isnan(values[row, col]) else "inf")


def require_keys(
    found: Container[str],
    required: Iterable[str],
    error: Callable[[list[str]], Exception],
) -> None:
    """Raise ``error(missing)`` if some of ``required`` are not in ``found``.

    Args:
        found: the names present (a dict, a list of columns, ...).
        required: the names that must be present, in the order the message lists them.
        error: builds the exception from the list of missing names.
    """
    missing = [key for key in required if key not in found]
    if missing:
        raise error(missing)


def check_number(value: Any, what: str, *, inclusive: bool = False, hint: str = "") -> float:
    """``value`` as a finite float > 0 (``>= 0`` if ``inclusive``), else ``ConfigError``.

    Args:
        value: the setting (bools and non-numbers are refused).
        what: how messages name it, e.g. ``"`dt` of resample"``.
        inclusive: accept 0.
        hint: words after the bound in messages, e.g. ``" (e.g. 0.001 for milliseconds)"``.

    Returns:
        ``float(value)``.
    """
    bound = ">= 0" if inclusive else "> 0"
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigError(f"{what} must be a number {bound}{hint}. Got {value!r}.")
    number = float(value)
    if not math.isfinite(number) or (number < 0 if inclusive else number <= 0):
        raise ConfigError(f"{what} must be finite and {bound}{hint}. Got {value!r} instead.")
    return number


def capitalized(text: str) -> str:
    """``text`` with its first letter upper-cased and the rest (e.g. a file path) unchanged."""
    return text[:1].upper() + text[1:]


def warn_caller(message: str) -> None:
    """Issue ``message`` as a ``UserWarning`` at the first caller outside ``hybridwm.data``.

    The user sees the line of their own code that read or cleaned the data, however many
    functions of this package lie in between.
    """
    here = inspect.currentframe()
    frame, level = (here.f_back if here is not None else None), 2
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, UserWarning, stacklevel=level)
