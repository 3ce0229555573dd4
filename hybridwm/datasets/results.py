"""The document a dataset benchmark writes (``official.json``) and the report reads: scores of
each model and seed beside the published rows, training facts, and where the rollouts are."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from hybridwm.schemas import Document

__all__ = ["OfficialResults", "OfficialRun", "PublishedEntry"]


class PublishedEntry(Document):
    """A published row: method, ``{split: RMSE}``, source, status, note."""

    method: str
    scores: dict[str, float]
    source: str
    status: str
    note: str = ""


class OfficialRun(Document):
    """One fitted model scored by the official protocol.

    Attributes:
        model: the recipe's name (``physics``, ``hybrid``, ``learned``, ``physics-published``).
        seed: training seed.
        rmse: ``{test split: RMSE in the score unit}`` (None when the simulation diverged).
        steps: optimizer steps taken.
        fit_seconds: wall time of ``hybridwm fit`` (machine-dependent).
        score_seconds: wall time of scoring every test record.
        parameters: the fitted physical parameters, if any.
        command: the fit command line.
    """

    model: str
    seed: int
    rmse: dict[str, float | None]
    steps: int
    fit_seconds: float
    score_seconds: float
    parameters: dict[str, float] = Field(default_factory=dict)
    command: str = ""


class OfficialResults(Document):
    """``official.json``: a dataset's scores, published rows and rollout file.

    Attributes:
        dataset: ``silverbox`` or ``emps``.
        unit: the score unit.
        n_init: the initialisation window.
        tests: the test splits, in order.
        published: the published rows (cited).
        runs: every model and seed.
        rollouts: file (beside this one) of ``{model}/{split}`` simulated outputs and
            ``measured/{split}``, ``input/{split}`` arrays (npz), for seed 0.
        train_range: ``[min, max]`` of the estimation and validation outputs (SI units):
            where extrapolation starts.
        date: when it was run (UTC).
    """

    what: ClassVar[str] = "an official.json"
    fix: ClassVar[str] = "Rerun benchmarks/bench_<dataset>.py to rewrite it."

    dataset: str
    unit: str
    n_init: int
    tests: list[str]
    published: list[PublishedEntry]
    runs: list[OfficialRun]
    rollouts: str = "rollouts.npz"
    train_range: list[float] = Field(default_factory=list)
    date: str = ""
