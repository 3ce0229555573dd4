"""Ensemble files: a WorldModelEnsemble as a directory, written atomically, read without pickles.

Files: ``ensemble.json`` (an :class:`EnsembleDocument`: format, settings, the recalibration's
scale factors) and one WorldModel directory per member, ``member0`` .. ``member{M-1}``
(:mod:`~hybridwm.models.persistence`: safetensors weights, JSON documents).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from pydantic import Field

from hybridwm._io import atomic_dir, atomic_write_json
from hybridwm.config import Config, load_mapping
from hybridwm.errors import FormatError, HybridWMError
from hybridwm.metrics import Recalibration
from hybridwm.metrics.uncertainty_file import check_header
from hybridwm.models.persistence import package_version
from hybridwm.models.world_model import WorldModel

__all__ = [
    "ENSEMBLE_FORMAT",
    "ENSEMBLE_FORMAT_VERSION",
    "EnsembleDocument",
    "read_ensemble",
    "save_ensemble",
]

ENSEMBLE_FORMAT = "hybridwm.ensemble"
ENSEMBLE_FORMAT_VERSION = 1
#: at most this many members are read (a bound on untrusted directories)
MAX_MEMBERS = 256


class EnsembleDocument(Config):
    """``ensemble.json`` of a saved WorldModelEnsemble.

    Args:
        format: always :data:`ENSEMBLE_FORMAT`.
        format_version: :data:`ENSEMBLE_FORMAT_VERSION` of the writer.
        hybridwm_version: the package version that wrote it.
        kind: the members' kind.
        n_members: number of member directories.
        bootstrap: whether members were trained on bootstrap resamples.
        physics_draws: whether members carry drawn physics coefficients.
        seed: the ensemble's seed.
        calibration: :meth:`Recalibration.to_dict` or None.
    """

    format: str = ENSEMBLE_FORMAT
    format_version: int = Field(ENSEMBLE_FORMAT_VERSION, ge=1)
    hybridwm_version: str | None = None
    kind: str
    n_members: int = Field(ge=2, le=MAX_MEMBERS)
    bootstrap: bool
    physics_draws: bool
    seed: int = Field(ge=0)
    calibration: dict[str, Any] | None = None


def _is_ensemble_dir(path: Path) -> bool:
    try:
        return load_mapping(path / "ensemble.json").get("format") == ENSEMBLE_FORMAT
    except FormatError:
        return False


def save_ensemble(
    path: str | os.PathLike[str],
    settings: dict[str, Any],
    members: list[WorldModel],
    calibration: Recalibration | None,
) -> Path:
    """Write the ensemble directory (a temporary directory renamed over any old one).

    Args:
        path: a new or empty directory, or an ensemble directory to replace.
        settings: ``kind``, ``n_members``, ``bootstrap``, ``physics_draws``, ``seed``.
        members: the fitted members.
        calibration: the recalibration, or None.

    Raises:
        FormatError: ``path`` exists and is not an ensemble directory.
        OutputError: writing failed; an earlier directory at ``path`` is left as it was.
    """
    path = Path(path)
    if path.exists() and not (
        path.is_dir() and (not any(path.iterdir()) or _is_ensemble_dir(path))
    ):
        raise FormatError(
            f"Refusing to overwrite {str(path)!r}: it exists and is not a hybridwm ensemble "
            f"directory. Choose another path or remove it."
        )
    doc = EnsembleDocument(
        hybridwm_version=package_version(),
        calibration=None if calibration is None else calibration.to_dict(),
        **settings,
    )
    with atomic_dir(path) as tmp:
        atomic_write_json(tmp / "ensemble.json", doc.to_dict())
        for i, member in enumerate(members):
            member.save(tmp / f"member{i}")
    return path


def _read_document(path: Path) -> EnsembleDocument:
    file = path / "ensemble.json"
    if not file.is_file():
        raise FormatError(
            f"{str(path)!r} is not a hybridwm ensemble directory (no ensemble.json). Give the "
            f"directory written by WorldModelEnsemble.save(path)."
        )
    raw = load_mapping(file)
    check_header(raw, str(file), ENSEMBLE_FORMAT, ENSEMBLE_FORMAT_VERSION, "Re-save the ensemble.")
    try:
        return EnsembleDocument.from_dict(raw)
    except HybridWMError as exc:
        raise FormatError(
            f"{str(file)!r} has a missing or bad entry: {exc} Re-save the ensemble with "
            f"WorldModelEnsemble.save."
        ) from None


def read_ensemble(
    path: str | os.PathLike[str], physics: Any = None, device: str | torch.device | None = None
) -> tuple[dict[str, Any], list[WorldModel], Recalibration | None]:
    """The settings, members and recalibration of an ensemble directory.

    Raises:
        FormatError: not an ensemble directory, a member is missing or damaged, or the
            recalibration is malformed or does not fit the members' states.
        IncompatibleVersionError: a newer format version.
    """
    path = Path(path)
    doc = _read_document(path)
    members = [
        WorldModel.load(path / f"member{i}", physics=physics, device=device)
        for i in range(doc.n_members)
    ]
    calibration = None
    if doc.calibration is not None:
        source = repr(str(path / "ensemble.json")) + " calibration"
        calibration = Recalibration.from_dict(doc.calibration, source=source)
        n_obs = len(members[0].observed_names_)
        if calibration.scale.shape[1] != n_obs:
            raise FormatError(
                f"{source} has factors for {calibration.scale.shape[1]} states but the members "
                f"observe {n_obs}; refit it with calibrate()."
            )
    settings = doc.to_dict()
    return settings, members, calibration
