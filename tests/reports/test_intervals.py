"""The report's uncertainty section: present exactly when the run directory has an
uncertainty.json, its table equals the file's numbers, calibration curves and interval bands are
drawn, and a damaged file is a named error."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from hybridwm.errors import FormatError, IncompatibleVersionError
from hybridwm.metrics import (
    UNCERTAINTY_FILE,
    IntervalBand,
    UncertaintyDocument,
    UncertaintyRow,
    read_uncertainty,
)
from hybridwm.reports import plots, render_report
from hybridwm.reports.rundir import read_run
from hybridwm.reports.sections import uncertainty_section


def document() -> UncertaintyDocument:
    rows = []
    for seed, cov in ((0, 0.8), (1, 0.9)):
        for model in ("hybrid", "learned"):
            for scenario in ("id", "ood-state"):
                rows.append(
                    UncertaintyRow(
                        system="pendulum", model=model, scenario=scenario, seed=seed,
                        horizons=[10, 50], coverage90=[cov, cov], coverage90_raw=[0.1, 0.2],
                        coverage50=[0.5, 0.5], levels=[0.5, 0.9], observed=[0.45, cov],
                        crps=0.01, auroc=None if scenario == "id" else 0.97, flagged=0.05,
                    )
                )  # fmt: skip
    t = np.linspace(0, 1, 11)
    truth = np.stack([np.sin(t), np.cos(t)], 1)
    bands = [
        IntervalBand(
            system="pendulum", model=m, scenario="id", state_names=["theta", "omega"],
            t=t.tolist(), truth=truth.tolist(), mean=(truth + 0.01).tolist(),
            lower=(truth - 0.1).tolist(), upper=(truth + 0.1).tolist(),
        )
        for m in ("hybrid", "learned")
    ]  # fmt: skip
    return UncertaintyDocument(rows=rows, bands=bands)


def test_section_only_with_the_file(run_factory):
    plain = run_factory("plain", with_samples=False, with_curves=False)
    assert uncertainty_section(read_run(plain)) is None  # the report as before
    run = run_factory("with", with_samples=False, with_curves=False)
    document().write(run)
    paths = render_report(run)
    md = paths["markdown"].read_text()
    assert "Uncertainty on pendulum" in md
    # mean ± std over the two seeds of the 90 % coverage, and the AUROC of the OOD rows
    assert "0.850 ± 0.050" in md and "0.970" in md
    names = {p.name for p in paths["figures"].glob("*.png")}
    assert {"calibration_pendulum.png", "intervals_pendulum.png"} <= names


def test_plot_rollouts_shades_the_bands():
    t = np.linspace(0, 1, 5)
    samples = pd.DataFrame(
        {
            "episode": 0,
            "t": np.concatenate([t, t]),
            "source": ["truth"] * 5 + ["hybrid"] * 5,
            "x": 0.0,
        }
    )
    bands = pd.DataFrame(
        {
            "episode": 0,
            "t": np.concatenate([t, t]),
            "source": "hybrid",
            "bound": ["lower"] * 5 + ["upper"] * 5,
            "x": np.repeat([-1.0, 1.0], 5),
        }
    )
    plain = plots.plot_rollouts({"id": samples}, ["x"], models=["hybrid"])
    shaded = plots.plot_rollouts({"id": samples}, ["x"], models=["hybrid"], bands={"id": bands})
    assert len(plain.axes[0].collections) == 0 and len(shaded.axes[0].collections) == 1


def test_damaged_file_is_a_named_error(run_factory):
    run = run_factory("bad", with_samples=False, with_curves=False)
    doc = document().model_dump(mode="json")
    (run / UNCERTAINTY_FILE).write_text(json.dumps({**doc, "rows": [{"system": "x"}]}))
    with pytest.raises(FormatError, match=r"field 'rows\.0\.model'"):
        read_uncertainty(run)
    (run / UNCERTAINTY_FILE).write_text(json.dumps({**doc, "format_version": 7}))
    with pytest.raises(IncompatibleVersionError, match="format version 7"):
        read_uncertainty(run)
    (run / UNCERTAINTY_FILE).write_text("{")
    with pytest.raises(FormatError, match="is not JSON text"):
        read_uncertainty(run)
