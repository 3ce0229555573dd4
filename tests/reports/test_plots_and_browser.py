"""Each plot function on tiny inputs, and the HTML report opened in headless Chromium."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from hybridwm.reports import plots


def _png_ok(fig: Figure) -> None:
    assert isinstance(fig, Figure)
    assert plots.to_png(fig, dpi=40)[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_rollouts_layout():
    t = np.linspace(0, 1, 5)
    frames = []
    for src in ("truth", "hybrid", "mystery"):
        frames.append(
            pd.DataFrame({"episode": 0, "t": t, "source": src, "a": t, "b": -t, "c": t**2})
        )
    df = pd.concat(frames)
    fig = plots.plot_rollouts(
        {"id": df, "ood-state": df}, ["a", "b", "c"], models=["hybrid"], max_states=2
    )
    assert len(fig.axes) == 4  # 2 scenarios × 2 states
    assert len(fig.axes[0].lines) == 3
    _png_ok(fig)


def test_plot_error_vs_horizon_and_vpt():
    rows = [
        {"model": m, "scenario": sc, "seed": s, "t": tk, "nrmse": 0.1 * (1 + tk) * (i + 1)}
        for i, m in enumerate(["learned", "hybrid"])
        for sc in ["id", "ood-state"]
        for s in [0, 1]
        for tk in [0.0, 0.5, 1.0]
    ]
    fig = plots.plot_error_vs_horizon(
        pd.DataFrame(rows), scenarios=["id", "ood-state"], models=["learned", "hybrid"]
    )
    assert len(fig.axes) == 2
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), [0.1, 0.15, 0.2])
    _png_ok(fig)
    agg = pd.DataFrame(
        [
            {"model": m, "scenario": "id", "metric": "vpt", "mean": 1.0, "std": 0.1}
            for m in ["learned", "hybrid"]
        ]
    )
    _png_ok(plots.plot_vpt(agg, scenarios=["id"], models=["learned", "hybrid"]))


def test_plot_ood_ratio_and_coefficients():
    ratios = pd.DataFrame(
        [
            {"system": "p", "model": m, "scenario": "ood-state", "ratio": r}
            for m, r in [("learned", 5.0), ("hybrid", 1.2)]
        ]
    )
    _png_ok(
        plots.plot_ood_ratio(
            ratios, systems=["p"], scenarios=["ood-state"], models=["learned", "hybrid"]
        )
    )
    fig = plots.plot_coefficients(
        {"dx": {"x": -1.0, "y": 0.1}}, {"dx": {"x": -1.1}}, std={"dx": {"x": 0.05}}
    )
    assert len(fig.axes[0].get_yticklabels()) == 2  # x (true and discovered) and spurious y
    _png_ok(fig)


def test_model_colors_are_stable():
    assert plots.model_color("hybrid") == plots.model_color("hybrid", ["a", "b"])
    assert plots.model_color("a", ["a", "b"]) != plots.model_color("b", ["a", "b"])


@pytest.mark.browser
@pytest.mark.skipif(shutil.which("chromium") is None, reason="headless Chromium is not installed")
def test_report_renders_in_headless_chromium(rendered, tmp_path):
    _, paths = rendered
    shot = tmp_path / "report.png"
    cmd = [
        shutil.which("chromium"),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1280,2400",
        f"--screenshot={shot}",
        paths["html"].resolve().as_uri(),
    ]
    subprocess.run(cmd, check=False, capture_output=True, timeout=120)
    assert shot.is_file()
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 10_000
