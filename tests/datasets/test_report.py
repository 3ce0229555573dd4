"""The measured-benchmarks report section: score table beside the published rows, rollout
figures, the Silverbox arrow's error over amplitude, and its refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hybridwm.datasets.results import OfficialResults, OfficialRun, PublishedEntry
from hybridwm.errors import FormatError
from hybridwm.reports.datasets import amplitude_error, read_official, render_datasets

TESTS = ["test_multisine", "test_arrow_full", "test_arrow_no_extrapolation"]


def _write(folder, runs, n=200):
    folder.mkdir()
    k = np.arange(n)
    y = 0.3 * k / n * np.sin(k / 3)
    arrays = {}
    for split in TESTS:
        arrays[f"measured/{split}"] = y
        arrays[f"input/{split}"] = np.cos(k)
        for r in runs:
            arrays[f"{r.model}/{split}"] = y + 1e-3 * (1 + (r.model == "learned")) * k / n
    np.savez(folder / "rollouts.npz", **arrays)
    doc = OfficialResults(
        dataset="silverbox",
        unit="mV",
        n_init=50,
        tests=TESTS,
        published=[
            PublishedEntry(
                method="pNARX <b>", scores=dict(zip(TESTS, (0.64, 2.25, 0.571), strict=True)), source="C|24",
                status="reproduced",
            )
        ],
        runs=runs,
        train_range=[-0.214, 0.216],
        date="2026-12-03",
    )  # fmt: skip
    (folder / "official.json").write_text(doc.model_dump_json())


def _run(model, seed, values):
    return OfficialRun(model=model, seed=seed, rmse=dict(zip(TESTS, values, strict=True)), steps=300,
                       fit_seconds=12.0, score_seconds=3.0, parameters={"W": 4.2})  # fmt: skip


def test_amplitude_error_by_hand():
    y = np.array([9.0, 0.1, -0.1, 0.9, -1.0])
    pred = y + np.array([5.0, 0.1, 0.1, 0.3, 0.5])
    centres, err = amplitude_error(y, pred, 1, bins=2)
    np.testing.assert_allclose(centres, [0.25, 0.75])
    np.testing.assert_allclose(err, [0.1, np.sqrt((0.09 + 0.25) / 2)])


def test_section_shows_scores_beside_published_rows(tmp_path):
    runs = [_run("hybrid", 0, (0.5, 1.0, 0.4)), _run("hybrid", 1, (0.7, 1.2, 0.6)),
            _run("learned", 0, (1.0, None, 0.9))]  # fmt: skip
    _write(tmp_path / "sb", runs)
    md = render_datasets([tmp_path / "sb"], tmp_path / "out").read_text()
    assert "| **hybrid** (2 seed(s)) | **0.6** (0.5-0.7) | **1.1** (1-1.2) |" in md
    assert "| **learned** (1 seed(s)) | **1** | diverged |" in md
    assert "| pNARX &lt;b&gt; | 0.64 | 2.25 | 0.571 |  | C\\|24 (reproduced) |" in md
    for name in ("silverbox-test_arrow_full.png", "silverbox-arrow-amplitude.png"):
        assert (tmp_path / "out" / "figures" / name).stat().st_size > 1000
        assert f"figures/{name}" in md
    assert "hybrid: W = 4.2" in md


def test_missing_or_malformed_files_are_refused(tmp_path):
    with pytest.raises(FormatError, match=r"official.json' does not exist"):
        read_official(tmp_path)
    (tmp_path / "official.json").write_text(json.dumps({"dataset": "x"}))
    with pytest.raises(
        FormatError, match=r"official.json': lacks key\(s\) \['unit'.*Rerun benchmarks/bench_"
    ):
        read_official(tmp_path)
    _write(tmp_path / "sb", [_run("hybrid", 0, (0.5, 1.0, 0.4))])
    (tmp_path / "sb" / "rollouts.npz").write_bytes(b"not a zip")
    with pytest.raises(FormatError, match="Cannot read the rollouts"):
        read_official(tmp_path / "sb")
