"""Exceptions raised by hybridwm.

Every input check in the library raises one of these, never ``assert``. Each message names the
argument, what was expected, what was got and how to fix it (the scikit-learn convention).
The classes also derive from the matching builtin (``ValueError``, ``KeyError``-like lookups are
``ValueError`` here) so that generic ``except ValueError`` code keeps working.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DataError",
    "DiscoveryError",
    "FormatError",
    "HybridWMError",
    "IncompatibleVersionError",
    "NotFittedError",
    "OutputError",
    "ParseError",
    "ShapeError",
    "SimulationError",
    "TrainingError",
    "UnknownNameError",
]


class HybridWMError(Exception):
    """Base class of every error hybridwm raises on purpose."""


class ConfigError(HybridWMError, ValueError):
    """A setting or argument has an invalid value (``dt <= 0``, negative mass, ...)."""


class UnknownNameError(ConfigError):
    """A name looked up in a registry (system, scenario, solver, ...) does not exist.

    The message lists every valid name.
    """


class DataError(HybridWMError, ValueError):
    """Trajectory data are malformed: NaN/inf, non-increasing time, wrong shapes, ..."""


class ShapeError(DataError):
    """An array has the wrong shape or a dimension that does not match the model or data."""


class FormatError(DataError):
    """A file cannot be read: empty, unknown format, missing or extra columns, wrong types."""


class SimulationError(HybridWMError, RuntimeError):
    """The ground-truth simulator failed (unstable integration, MuJoCo warning)."""


class DiscoveryError(HybridWMError, ValueError):
    """Equation discovery cannot proceed with the given data, library or optimizer."""


class ParseError(HybridWMError, ValueError):
    """A declared equation or feature expression cannot be parsed; the message shows where."""


class NotFittedError(HybridWMError, AttributeError):
    """A method that needs fitted state was called before ``fit``."""


class TrainingError(HybridWMError, RuntimeError):
    """Training stopped: a loss became NaN/inf or the ODE solver failed."""


class IncompatibleVersionError(FormatError):
    """A saved file (physics JSON, run directory) comes from an incompatible format version."""


class OutputError(HybridWMError, OSError):
    """An output file or directory cannot be written: the disk is full, a quota is reached, the
    file system is read-only, permission is denied, ...

    Raised by every hybridwm writer (they are atomic: the earlier file, if any, is left
    byte-identical and no temporary file is left behind). The message names the path, the
    operating system's reason and the fix (free some space, or choose another ``--out``).
    ``errno`` and ``filename`` are those of the underlying ``OSError``.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""
