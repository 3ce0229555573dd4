"""MeasuredDataset: a real benchmark's official splits, initialisation window, score unit and
published results, as data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from hybridwm.data import Trajectory, TrajectorySet
from hybridwm.errors import UnknownNameError

__all__ = ["MeasuredDataset", "PublishedRow", "record_split"]


@dataclass(frozen=True)
class PublishedRow:
    """One published result on a benchmark's test sets.

    Args:
        method: the method's name as its source names it.
        scores: ``{test split: RMSE in the benchmark's score unit}``.
        source: short citation of where the number was published.
        status: ``"reproduced"`` (recomputed by the dataset's curators with independent code)
            or ``"transcribed"`` (copied, not confirmed; see the dataset's README).
        note: caveat, if any.
    """

    method: str
    scores: Mapping[str, float]
    source: str
    status: str = "transcribed"
    note: str = ""


@dataclass(frozen=True)
class MeasuredDataset:
    """A measured benchmark in its official splits.

    Every split is a :class:`TrajectorySet` of one episode: states ``output_names`` (the measured
    outputs, in SI units), actions ``action_names``, time in seconds from the record's first
    sample, ``meta`` with ``dataset``, ``split``, ``file``, ``start``/``stop`` (0-based,
    half-open sample indices in the file), ``n_init``, ``units`` and ``score_unit``.

    Args:
        name: registry name (``"silverbox"``, ``"emps"``).
        splits: ``{split name: TrajectorySet}``.
        tests: the official test splits, in the order results are published.
        n_init: the official initialisation window: a model may use the first ``n_init``
            measured outputs of a test record (and its whole input) to estimate its initial
            state; the score is the RMSE over the samples after them.
        score_unit: the unit of published scores (``"mV"``, ``"mm"``).
        score_scale: factor from the data's SI unit to ``score_unit`` (1000).
        units: ``{column: unit}`` of the data (``{"t": "s", "y": "V", "u": "V"}``).
        published: published results, cited.
        citation: how to cite the benchmark.
        parameters: published physical parameters, if any (``{name: value}``, SI units).
    """

    name: str
    splits: Mapping[str, TrajectorySet]
    tests: tuple[str, ...]
    n_init: int
    score_unit: str
    score_scale: float
    units: Mapping[str, str]
    published: tuple[PublishedRow, ...] = ()
    citation: str = ""
    parameters: Mapping[str, float] = field(default_factory=dict)

    def split(self, name: str) -> TrajectorySet:
        """The split ``name``.

        Raises:
            UnknownNameError: ``name`` is not one of this dataset's splits (they are listed).
        """
        if name not in self.splits:
            raise UnknownNameError(
                f"`split` {name!r} is not a split of {self.name}; valid: {list(self.splits)}."
            )
        return self.splits[name]

    def __repr__(self) -> str:
        sizes = ", ".join(f"{k}={v[0].t.size}" for k, v in self.splits.items())
        return f"MeasuredDataset({self.name!r}, n_init={self.n_init}, {sizes})"


def record_split(
    record: Mapping[str, object],
    start: int,
    stop: int,
    *,
    names: tuple[tuple[str, str], tuple[str, str]],
    sampling_time: float,
    meta: Mapping[str, object],
) -> TrajectorySet:
    """One split of a record: samples ``[start, stop)`` as a one-episode TrajectorySet.

    Args:
        record: ``{column: (rows,) array}`` of the whole file.
        start: first sample (0-based).
        stop: one past the last sample.
        names: ``((output column, output name), (input column, input name))``.
        sampling_time: seconds between samples (time starts at 0 at ``start``).
        meta: the episode's metadata (``start``/``stop`` are added).

    Returns:
        A TrajectorySet of one Trajectory: ``x`` (stop - start, 1), ``u`` (stop - start, 1).
    """
    (y_col, y_name), (u_col, u_name) = names
    y = np.asarray(record[y_col])[start:stop, None]
    u = np.asarray(record[u_col])[start:stop, None]
    t = sampling_time * np.arange(stop - start, dtype=np.float64)
    tr = Trajectory(t, y, u, (y_name,), (u_name,), meta={**meta, "start": start, "stop": stop})
    return TrajectorySet([tr])
