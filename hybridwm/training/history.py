"""History: what happened during training, epoch by epoch (saved as ``history.json``)."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hybridwm._io import atomic_write_json, to_jsonable

__all__ = ["History"]


@dataclass
class History:
    """What happened during training.

    Attributes:
        records: one dict per epoch: ``epoch``, ``time`` (s since start), ``lr``, ``horizon``,
            ``steps``, ``train_<part>`` (mean of each loss part over the epoch) and
            ``val_nrmse`` (``None`` on epochs without validation).
        best_epoch: epoch of the kept weights (0 = the initial weights).
        best_score: validation nRMSE of the kept weights (or training loss without validation).
        stop_reason: ``"steps"`` or ``"epochs"`` (the budget was spent), ``"patience"``,
            ``"max_time"`` (the wall-clock safety cap stopped it: the result depends on the
            machine's speed), ``"nonfinite"``, ``"solver"``, ``"interrupted"`` or
            ``"nothing to train"``.
    """

    records: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int = 0
    best_score: float = math.inf
    stop_reason: str = ""

    def __getitem__(self, key: str) -> list[Any]:
        """The values of one record field over the epochs, e.g. ``history["val_nrmse"]``."""
        return [r.get(key) for r in self.records]

    def __len__(self) -> int:
        return len(self.records)

    @property
    def steps(self) -> int:
        """Optimizer steps taken over all epochs (the L-BFGS polish not counted)."""
        return sum(int(r.get("steps") or 0) for r in self.records if r.get("phase") != "lbfgs")

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible dict."""
        return to_jsonable(  # type: ignore[no-any-return]
            {
                "records": self.records,
                "best_epoch": self.best_epoch,
                "best_score": self.best_score,
                "stop_reason": self.stop_reason,
            }
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> History:
        """Inverse of :meth:`to_dict`."""
        score = data.get("best_score", math.inf)
        score = math.inf if score in (None, "inf") else float(score)
        return cls(
            list(data.get("records", [])),
            int(data.get("best_epoch", 0)),
            score,
            str(data.get("stop_reason", "")),
        )

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write ``history.json`` atomically."""
        return atomic_write_json(path, self.to_dict())
