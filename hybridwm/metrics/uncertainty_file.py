"""``uncertainty.json``: the calibration and detection results of ensembles in a run directory.

Written beside ``results.json`` by whoever scored ensembles (``benchmarks/bench_uncertainty.py
--run-dir``), read by the reports (their uncertainty section appears only when the file is
there). Rows hold numbers per (system, model, scenario, seed); bands hold one episode's mean and
90 % interval per (system, model, scenario) for the rollout plots.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hybridwm._io import atomic_write_json
from hybridwm.errors import FormatError, IncompatibleVersionError

__all__ = [
    "UNCERTAINTY_FILE",
    "UNCERTAINTY_FORMAT",
    "IntervalBand",
    "UncertaintyDocument",
    "UncertaintyRow",
    "check_header",
    "read_uncertainty",
]

UNCERTAINTY_FILE = "uncertainty.json"
UNCERTAINTY_FORMAT = "hybridwm.uncertainty"
_VERSION = 1
#: the largest file read (a bound on untrusted run directories)
MAX_BYTES = 64 * 2**20


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UncertaintyRow(_Strict):
    """Scores of one ensemble on one scenario and seed.

    Args:
        system, model, scenario: names (``model`` e.g. ``"hybrid"``, ``"learned"``).
        seed: the seed.
        horizons: steps at which coverage is reported.
        coverage90: fraction inside the recalibrated 90 % interval at each horizon.
        coverage90_raw: the same before recalibration (None when not measured).
        coverage50: fraction inside the recalibrated 50 % interval at each horizon.
        levels: nominal central-interval levels of the calibration curve.
        observed: the fraction inside each level's interval, over every step after the first.
        crps: mean Gaussian CRPS in scale units over every step after the first.
        auroc: detection AUROC of ``id`` against this scenario (None for ``id`` itself).
        flagged: fraction of this scenario's episodes the detector flagged (None if no detector).
    """

    system: str
    model: str
    scenario: str
    seed: int
    horizons: list[int]
    coverage90: list[float | None]
    coverage90_raw: list[float | None] | None = None
    coverage50: list[float | None]
    levels: list[float] = Field(default_factory=list)
    observed: list[float | None] = Field(default_factory=list)
    crps: float | None = None
    auroc: float | None = None
    flagged: float | None = None


class IntervalBand(_Strict):
    """One episode's truth, mean and 90 % interval: ``t`` (T,), the others (T, n_x)."""

    system: str
    model: str
    scenario: str
    state_names: list[str]
    t: list[float]
    truth: list[list[float]]
    mean: list[list[float | None]]
    lower: list[list[float | None]]
    upper: list[list[float | None]]


class UncertaintyDocument(_Strict):
    """The whole file: format, version, rows and bands."""

    format: str = UNCERTAINTY_FORMAT
    format_version: int = _VERSION
    rows: list[UncertaintyRow]
    bands: list[IntervalBand] = Field(default_factory=list)

    def write(self, run_dir: str | os.PathLike[str]) -> Path:
        """Write ``uncertainty.json`` into ``run_dir``, atomically."""
        return atomic_write_json(Path(run_dir) / UNCERTAINTY_FILE, self.model_dump(mode="json"))


def check_header(raw: Any, source: str, fmt: str, version: int, fix: str) -> None:
    """Check a JSON document's ``format`` and ``format_version`` (1 up to ``version``).

    Raises:
        FormatError: not a mapping, or another format (naming ``source`` and ``fix``).
        IncompatibleVersionError: a version this hybridwm cannot read.
    """
    if not isinstance(raw, dict) or raw.get("format") != fmt:
        found = raw.get("format") if isinstance(raw, dict) else None
        raise FormatError(f"{source!r} has format {found!r}, expected {fmt!r}. {fix}")
    found = raw.get("format_version")
    if not isinstance(found, int) or not 1 <= found <= version:
        raise IncompatibleVersionError(
            f"{source!r} has format version {found!r}; this hybridwm reads version {version}. "
            f"Upgrade hybridwm, or {fix[0].lower()}{fix[1:]}"
        )


def read_uncertainty(run_dir: str | os.PathLike[str]) -> UncertaintyDocument | None:
    """The run directory's ``uncertainty.json``, or None when it has none.

    Raises:
        FormatError: the file is too big, not JSON, or a field is missing or malformed.
        IncompatibleVersionError: written by a newer format version.
    """
    file = Path(run_dir) / UNCERTAINTY_FILE
    if not file.is_file():
        return None
    fix = "Write it again (benchmarks/bench_uncertainty.py --run-dir) or remove it."
    if file.stat().st_size > MAX_BYTES:
        raise FormatError(f"{str(file)!r} is larger than {MAX_BYTES} bytes. {fix}")
    try:
        raw = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise FormatError(f"{str(file)!r} is not JSON text ({exc}). {fix}") from None
    check_header(raw, str(file), UNCERTAINTY_FORMAT, _VERSION, fix)
    try:
        return UncertaintyDocument.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise FormatError(f"{str(file)!r}: field {where!r}: {first['msg']}. {fix}") from None
