"""Real measured benchmarks (nonlinearbenchmark.org) in their official splits, shipped with the
package: :func:`silverbox`, :func:`emps`, or :func:`load_dataset` by name; the official score on
predictions (:func:`score_predictions`; a fitted model: ``hybridwm.evaluation.score``).

>>> ds = load_dataset("emps")                     # doctest: +SKIP
>>> ds.split("train_val"), ds.split("test"), ds.n_init, ds.score_unit
"""

from __future__ import annotations

import os

from hybridwm.datasets.archive import MAX_CSV_BYTES, ShippedFile, read_columns
from hybridwm.datasets.dataset import MeasuredDataset, PublishedRow
from hybridwm.datasets.emps import EMPS_PARAMETERS, emps
from hybridwm.datasets.scoring import official_rmse, score_predictions, window_only
from hybridwm.datasets.silverbox import silverbox
from hybridwm.registry import Registry

__all__ = [
    "DATASETS",
    "EMPS_PARAMETERS",
    "MAX_CSV_BYTES",
    "MeasuredDataset",
    "PublishedRow",
    "ShippedFile",
    "emps",
    "load_dataset",
    "official_rmse",
    "read_columns",
    "score_predictions",
    "silverbox",
    "window_only",
]

DATASETS: Registry = Registry("dataset", "load_dataset(name)")
DATASETS.register("silverbox", silverbox)
DATASETS.register("emps", emps)


def load_dataset(name: str, data_dir: str | os.PathLike[str] | None = None) -> MeasuredDataset:
    """The measured benchmark ``name`` (``"silverbox"``, ``"emps"``) in its official splits.

    Raises:
        UnknownNameError: ``name`` is not a shipped dataset (the valid names are listed).
        FormatError: a file is missing or altered.
    """
    return DATASETS[name](data_dir)
