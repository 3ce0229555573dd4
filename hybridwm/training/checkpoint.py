"""Checkpoints: tensors and plain values only, written atomically, read with ``weights_only``.

A checkpoint is a dict of state dicts (model, optimizer), numbers, strings and lists of dicts
(the history). ``torch.load(..., weights_only=True)`` reads exactly these types and never
unpickles arbitrary objects.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from hybridwm._io import atomic_path
from hybridwm.errors import FormatError

__all__ = ["load_checkpoint", "save_checkpoint"]


def save_checkpoint(path: str | os.PathLike[str], payload: dict[str, Any]) -> Path:
    """Write ``payload`` to ``path`` atomically (a crash leaves the previous file intact)."""
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def load_checkpoint(
    path: str | os.PathLike[str], map_location: str | torch.device | None = "cpu"
) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (``weights_only=True``).

    Raises:
        FormatError: if the file is missing or is not a hybridwm checkpoint.
    """
    p = Path(path)
    if not p.is_file():
        raise FormatError(f"Checkpoint {str(p)!r} does not exist or is not a file.")
    try:
        payload = torch.load(p, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises several types for foreign or corrupt files
        raise FormatError(
            f"Cannot read checkpoint {str(p)!r} as tensors-only data: {exc}. Only files written "
            f"by hybridwm's Trainer can be resumed from."
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != "hybridwm.checkpoint":
        raise FormatError(f"{str(p)!r} is not a hybridwm training checkpoint.")
    return payload
