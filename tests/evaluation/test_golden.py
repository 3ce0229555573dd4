"""Golden test: the quick preset cut to a tiny step budget gives the numbers recorded in
golden/quick_tiny.json (same seed, same data, same optimizer steps). Regenerate that file only
for a change meant to change the numbers, and say so in its comment."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from hybridwm.evaluation import benchmark, load_preset

GOLDEN = Path(__file__).parent / "golden" / "quick_tiny.json"


def tiny_quick():
    """The quick preset with little data and a budget of two epochs (no wall-clock limit)."""
    return load_preset(
        "quick",
        n_train=4,
        n_eval=3,
        duration=1.0,
        eval_duration=1.0,
        workers=1,
        n_samples=1,
        train={"epochs": 2},
        adapt={"ood-params": {"n_trajectories": 2, "duration": 1.0, "train": {"epochs": 2}}},
    )


def _same(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == pytest.approx(b, rel=1e-9, abs=1e-12)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_quick_preset_tiny_budget_reproduces_golden_numbers(tmp_path: Path) -> None:
    golden = json.loads(GOLDEN.read_text())
    path = benchmark(tiny_quick(), tmp_path / "run", progress=False)
    results = json.loads(Path(path).read_text())
    key = ("system", "model", "scenario", "seed", "metric")
    got = {tuple(r[k] for k in key): float(r["value"]) for r in results["metrics"]}
    want = {tuple(r[k] for k in key): float(r["value"]) for r in golden["metrics"]}
    # metrics added since (e.g. RMSE in data units) may stand beside the golden ones
    assert set(want) <= set(got), sorted(set(want) - set(got))[:5]
    differ = {k: (got[k], want[k]) for k in want if not _same(got[k], want[k])}
    assert not differ, (
        f"{len(differ)} of {len(want)} numbers changed, e.g. {list(differ.items())[:3]}"
    )
    for system, entry in golden["systems"].items():
        assert results["systems"][system]["equations"] == entry["equations"]
        coefs = results["systems"][system]["coefficients"]
        for state, terms in entry["coefficients"].items():
            assert coefs[state] == pytest.approx(terms, rel=1e-12)
