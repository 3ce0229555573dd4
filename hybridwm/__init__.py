"""hybridwm: hybrid physics-informed world models.

Recover physics from trajectories with SINDy, add a learned neural-ODE residual, and check every
model against MuJoCo ground truth, in and out of distribution.
"""

from importlib.metadata import PackageNotFoundError, version

from hybridwm.data import Trajectory, TrajectorySet
from hybridwm.errors import (
    ConfigError,
    DataError,
    HybridWMError,
    NotFittedError,
    UnknownNameError,
)

try:
    __version__ = version("hybridwm")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

__all__ = [
    "ConfigError",
    "DataError",
    "HybridWMError",
    "NotFittedError",
    "Trajectory",
    "TrajectorySet",
    "UnknownNameError",
    "__version__",
]
