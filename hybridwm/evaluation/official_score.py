"""The official score of a fitted WorldModel on a measured benchmark (nonlinearbenchmark.org).

For each test record: the model sees the whole input and only the first ``n_init`` measured
outputs (:func:`~hybridwm.datasets.window_only` replaces the later ones); its unmeasured initial
coordinates (a latent velocity, free latent coordinates) are fitted to those ``n_init`` outputs
(``init="optimize"``, L-BFGS from the encoder's estimate, the model frozen; the measured ones
start at the first output); it is simulated open loop over the whole record; the score is the
RMSE over the samples after the window, in the benchmark's unit.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hybridwm._io import atomic_write_json
from hybridwm.datasets import (
    DATASETS,
    MeasuredDataset,
    load_dataset,
    score_predictions,
    window_only,
)
from hybridwm.errors import ConfigError, ShapeError
from hybridwm.models import WorldModel, prediction

__all__ = ["OfficialScore", "main", "score"]


@dataclass(frozen=True)
class OfficialScore:
    """Scores of one model on a benchmark's test records.

    Attributes:
        dataset: the benchmark's name.
        rmse: ``{split: RMSE in unit}`` (``inf``: the simulation diverged).
        unit: the score unit (``"mV"``, ``"mm"``).
        predictions: ``{split: (T,) simulated output in the data's SI unit}``.
        n_init: the initialisation window used.
    """

    dataset: str
    rmse: dict[str, float]
    unit: str
    predictions: dict[str, np.ndarray]
    n_init: int


def _check_model(model: WorldModel, dataset: MeasuredDataset) -> None:
    """Refuse a model whose names differ from the data's or whose encoder reads past the
    official window."""
    fitted = getattr(model, "model_", None)
    if fitted is None:
        raise ConfigError(
            f"`model` must be a fitted WorldModel; call model.fit(...) on {dataset.name}'s "
            f"estimation data first (or WorldModel.load a fitted one)."
        )
    data = dataset.split(dataset.tests[0])
    if (
        tuple(model.observed_names_) != data.state_names
        or tuple(model.action_names_) != data.action_names
    ):
        raise ShapeError(
            f"`model` measures {list(model.observed_names_)} under {list(model.action_names_)}; "
            f"{dataset.name} has outputs {list(data.state_names)} and inputs "
            f"{list(data.action_names)}. Fit it on this dataset's splits."
        )
    if fitted.encoder_window > dataset.n_init:
        raise ConfigError(
            f"`model`'s encoder reads {fitted.encoder_window} samples, more than the official "
            f"initialisation window of {dataset.name} ({dataset.n_init}); refit with "
            f"encoder_window <= {dataset.n_init}."
        )


def score(
    model: WorldModel,
    dataset: MeasuredDataset,
    splits: Sequence[str] | None = None,
    *,
    solver: str | None = None,
) -> OfficialScore:
    """The official score of a fitted model on a benchmark's test records.

    Args:
        model: a fitted WorldModel whose observed states and actions are the dataset's.
        dataset: the benchmark (:func:`hybridwm.datasets.load_dataset`).
        splits: which records (default: ``dataset.tests``); any split may be scored the same way.
        solver: solver override for the simulation.

    Returns:
        An :class:`OfficialScore`.

    Raises:
        ConfigError: the model is not fitted, or its encoder reads more than ``n_init`` samples.
        ShapeError: its names are not the dataset's.
        UnknownNameError: a split is not the dataset's.
    """
    _check_model(model, dataset)
    names = list(dataset.tests if splits is None else splits)
    preds = {}
    for name in names:
        seen = window_only(dataset.split(name), dataset.n_init)
        out = prediction.predict_episodes(
            model.model_, seen, optimize=True, init_window=dataset.n_init, solver=solver
        )
        preds[name] = out[0][:, 0] if out[0].shape[1] == 1 else out[0]
    rmse = score_predictions(dataset, preds)
    return OfficialScore(dataset.name, rmse, dataset.score_unit, preds, dataset.n_init)


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m hybridwm.evaluation.official_score --model DIR --dataset NAME [--json FILE]``:
    the official score of a saved model, printed (and written as JSON)."""
    parser = argparse.ArgumentParser(prog="python -m hybridwm.evaluation.official_score")
    parser.add_argument("--model", type=Path, required=True, help="a `hybridwm fit` run directory")
    parser.add_argument("--dataset", required=True, choices=DATASETS.names())
    parser.add_argument("--json", type=Path, help="write {split: RMSE} and the unit here")
    args = parser.parse_args(argv)
    result = score(WorldModel.load(args.model), load_dataset(args.dataset))
    for split, value in result.rmse.items():
        print(f"{args.dataset} {split}: {value:.4g} {result.unit}")
    if args.json is not None:
        atomic_write_json(
            args.json, {"dataset": result.dataset, "unit": result.unit, "rmse": result.rmse}
        )


if __name__ == "__main__":
    main()
