"""Smoke test of benchmarks/bench_identifiability.py: every part runs end to end (2 steps)."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_identifiability.py"


@pytest.mark.slow
def test_bench_identifiability_runs(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = importlib.util.spec_from_file_location("bench_identifiability", SCRIPT)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, bench)  # dataclasses look their module up
    spec.loader.exec_module(bench)
    argv = ["--system", "pendulum", "--seeds", "0", "--steps", "2", "--n-train", "4"]
    argv += ["--models", "physics,hybrid,learned", "--n-eval", "2", "--eval-duration", "1"]
    rows = bench.main(argv)
    assert [r["model"] for r in rows] == ["physics", "hybrid", "learned"]
    assert set(rows[0]["params"]) == {"mass", "length"} and rows[2]["params"] == {}
    assert all(r["steps"] == 2 for r in rows)
    assert all(math.isfinite(v) for r in rows for v in r["log10_mse"].values())
    out = capsys.readouterr().out
    assert "### pendulum: verdict" in out and "decades below learned" in out
