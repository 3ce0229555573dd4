"""Same config, same seed, same results.json: the numbers of a run do not depend on the
machine's speed or load. Wall-clock times live in timings.json; the training facts (steps,
stop reason, fitted physics) and the residual's share are part of results.json."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from hybridwm.evaluation import BenchmarkConfig, benchmark
from hybridwm.evaluation.coefficients import incomplete_physics
from hybridwm.reports import render_report

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
GOLDEN = "test_golden.py"


def _golden_config() -> Callable[[], BenchmarkConfig]:
    """``tiny_quick`` of test_golden.py: the quick preset with little data and a budget of two
    epochs (loaded from that file, so the two tests always run the same config)."""
    spec = importlib.util.spec_from_file_location("_golden", Path(__file__).with_name(GOLDEN))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.tiny_quick  # type: ignore[no-any-return]


tiny_quick = _golden_config()


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    runs = tmp_path_factory.mktemp("twice") / "a", tmp_path_factory.mktemp("twice") / "b"
    for run in runs:
        benchmark(tiny_quick(), run, progress=False)
    return runs


def test_two_runs_of_one_config_write_the_same_results_json(two_runs) -> None:
    a, b = two_runs
    assert (a / "results.json").read_bytes() == (b / "results.json").read_bytes()
    for table in ("metrics.parquet", "curves.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(a / table), pd.read_parquet(b / table))


def test_wall_clock_times_are_kept_out_of_results_json(two_runs) -> None:
    a, _ = two_runs
    results = json.loads((a / "results.json").read_text())
    assert not {"started", "finished"} & set(results["setup"])
    assert results.get("fit", []) == []
    assert not {r["metric"] for r in results["metrics"]} & {"fit_time", "adapt_time"}
    timings = json.loads((a / "timings.json").read_text())
    assert timings["started"] <= timings["finished"]
    cfg = tiny_quick()
    want = {(s, m, "train", "fit_time") for s in cfg.systems for m in cfg.models}
    want |= {(s, m, "ood-params-adapted", "adapt_time") for s in cfg.systems for m in cfg.models}
    assert {
        (r["system"], r["model"], r["scenario"], r["metric"]) for r in timings["timings"]
    } == want
    assert all(r["value"] >= 0 for r in timings["timings"])


def test_results_record_training_facts_residual_share_and_incomplete_physics(two_runs) -> None:
    a, _ = two_runs
    results = json.loads((a / "results.json").read_text())
    cfg = tiny_quick()
    rows = {(r["system"], r["model"], r["scenario"]): r for r in results["training"]}
    stages = ("train", "ood-params-adapted")
    assert set(rows) == {(s, m, sc) for s in cfg.systems for m in cfg.models for sc in stages}
    for (_, model, _), row in rows.items():
        assert row["stop_reason"] and row["steps"] >= 0 and row["best_epoch"] >= 0
        assert ("physics_change" in row) == (model != "learned")
    for system in cfg.systems:  # every trained kind of a system took the same steps
        fits = {r["steps"] for (s, _, sc), r in rows.items() if (s, sc) == (system, "train")}
        assert len(fits - {0}) == 1
    share = {
        (r["system"], r["model"], r["scenario"]): r["value"]
        for r in results["metrics"]
        if r["metric"] == "residual_share"
    }
    scenarios = (*cfg.scenarios, "ood-params-adapted")
    hybrids = [m for m in cfg.models if m.startswith("hybrid")]
    assert set(share) == {(s, m, sc) for s in cfg.systems for m in hybrids for sc in scenarios}
    assert all(v >= 0 for v in share.values())
    for system, entry in results["systems"].items():
        assert entry["incomplete_physics"] is incomplete_physics(system)


def test_the_report_shows_training_costs_and_the_info_only_scenario(two_runs) -> None:
    a, _ = two_runs
    md = render_report(a)["markdown"].read_text()
    assert "## Training" in md and "#### Training runs" in md and "#### Physics and residual" in md
    assert "| system | model | fit [s] | adapt for ood-params [s] |" in md
    assert "ood-params is information only: no model knows the new parameters" in md
    summary = json.loads((a / "summary.json").read_text())
    assert not any(r["scenario"] == "ood-params" for r in summary["hybrid_losses"])
    assert any("exact physics" in f for f in summary["findings"])
