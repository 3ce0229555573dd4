"""The training progress bar: optimizer steps done, elapsed time, horizon, learning rate, loss
parts."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

__all__ = ["EpochBar", "epoch_info", "fmt"]


def fmt(value: float | None) -> str:
    """A number in 3 significant digits (``None``, NaN and inf as they are)."""
    return f"{value:.3g}" if value is not None and math.isfinite(value) else str(value)


def epoch_info(record: dict[str, Any]) -> str:
    """One line from an epoch record: ``h=.. lr=.. rollout=.. ... val=..``."""
    words = [f"h={record['horizon']}", f"lr={fmt(record['lr'])}"]
    words += [f"{k[6:]}={fmt(v)}" for k, v in record.items() if k.startswith("train_")]
    if record.get("val_nrmse") is not None:
        words.append(f"val={fmt(record['val_nrmse'])}")
    return "  ".join(words)


class EpochBar:
    """A rich progress bar over the optimizer steps, updated once per epoch (or nothing, when
    ``enabled`` is false).

    Use as ``with EpochBar.open(enabled, total, completed) as bar: ... bar.update(record, done)``.
    """

    def __init__(self, progress: Progress | None, task: Any) -> None:
        self._progress, self._task = progress, task

    @classmethod
    @contextlib.contextmanager
    def open(cls, enabled: bool, total: int, completed: int) -> Iterator[EpochBar]:
        """A bar for ``total`` optimizer steps of which ``completed`` are done (resumed runs)."""
        if not enabled:
            yield cls(None, None)
            return
        progress = Progress(
            TextColumn("[bold]training"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[info]}"),
        )
        with progress:
            yield cls(
                progress, progress.add_task("train", total=total, completed=completed, info="")
            )

    def update(self, record: dict[str, Any], done: int) -> None:
        """Show the epoch ``record`` (see :class:`~hybridwm.training.History`) and the ``done``
        optimizer steps so far."""
        if self._progress is not None:
            info = f"epoch {record['epoch']}  {epoch_info(record)}"
            self._progress.update(self._task, completed=done, info=info)
