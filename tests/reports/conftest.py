"""A small, internally consistent benchmark run directory built from real files.

2 systems × 4 models × 2 scenarios × 2 seeds with deterministic made-up numbers. The nRMSE
values are chosen so that the hybrid loses in exactly two cells:
pendulum/ood-state (to physics) and cartpole/id (to hybrid-no-pinn).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

SYSTEMS = {
    "pendulum": {"states": ["theta", "omega"], "actions": ["tau"]},
    "cartpole": {"states": ["x", "x_dot", "theta", "theta_dot"], "actions": ["force"]},
}
MODELS = ["learned", "physics", "hybrid", "hybrid-no-pinn"]
SCENARIOS = ["id", "ood-state"]
SEEDS = [0, 1]
BASE_NRMSE = {
    ("pendulum", "id"): {"learned": 0.05, "physics": 0.08, "hybrid": 0.02, "hybrid-no-pinn": 0.03},
    ("pendulum", "ood-state"): {
        "learned": 0.4,
        "physics": 0.07,
        "hybrid": 0.09,
        "hybrid-no-pinn": 0.12,
    },
    ("cartpole", "id"): {"learned": 0.1, "physics": 0.3, "hybrid": 0.06, "hybrid-no-pinn": 0.05},
    ("cartpole", "ood-state"): {
        "learned": 0.9,
        "physics": 0.35,
        "hybrid": 0.2,
        "hybrid-no-pinn": 0.25,
    },
}
#: the cells where hybrid's mean nRMSE is worse than the best other model: (system, scenario, best)
EXPECTED_LOSSES = {("pendulum", "ood-state", "physics"), ("cartpole", "id", "hybrid-no-pinn")}


def nrmse_value(system: str, scenario: str, model: str, seed: int) -> float:
    """The made-up nRMSE of one job (varies with seed so that std > 0)."""
    i = MODELS.index(model)
    return BASE_NRMSE[(system, scenario)][model] * (1.0 + 0.1 * seed) + 0.0013 * seed * (i + 1)


def _metric_rows(hybrid_best_everywhere: bool) -> list[dict[str, Any]]:
    rows = []
    for (system, scenario), _ in BASE_NRMSE.items():
        for model in MODELS:
            for seed in SEEDS:
                v = nrmse_value(system, scenario, model, seed)
                if hybrid_best_everywhere and model == "hybrid":
                    v = 0.001 * (1 + seed)
                key = {"system": system, "model": model, "scenario": scenario, "seed": seed}
                rows.append({**key, "metric": "nrmse", "value": v})
                rows.append({**key, "metric": "vpt", "value": round(min(2.0, 0.06 / v), 6)})
                job = (system, model, scenario, seed)
                div = 1.0 if job == ("cartpole", "learned", "ood-state", 1) else 0.0
                rows.append({**key, "metric": "diverged", "value": div})
                drift = 0.011 * MODELS.index(model) - 0.002 * seed
                rows.append({**key, "metric": "energy_drift", "value": drift})
    return rows


def make_run_dir(
    path: Path,
    *,
    hybrid_best_everywhere: bool = False,
    results_overrides: dict[str, Any] | None = None,
    with_curves: bool = True,
    with_samples: bool = True,
) -> Path:
    """Write a run directory at ``path`` and return it."""
    path.mkdir(parents=True, exist_ok=True)
    config = {
        "preset": "quick",
        "systems": list(SYSTEMS),
        "models": MODELS,
        "scenarios": SCENARIOS,
        "seeds": SEEDS,
        "train": {"epochs": 20, "horizon": 10, "pinn_weight": 0.1, "n_train_episodes": 16},
    }
    (path / "config.json").write_text(json.dumps(config, indent=2))
    rows = _metric_rows(hybrid_best_everywhere)
    systems = {
        "pendulum": {
            "state_names": SYSTEMS["pendulum"]["states"],
            "action_names": SYSTEMS["pendulum"]["actions"],
            "equations": [
                "d(theta)/dt = 1.000 omega",
                "d(omega)/dt = -9.790 sin(theta) + -0.102 omega + 2.010 tau",
            ],
            "equations_latex": [
                r"\dot{\theta} = 1.000\,\omega",
                r"\dot{\omega} = -9.790\,\sin\theta - 0.102\,\omega + 2.010\,\tau",
            ],
            "coefficients": {
                "d(theta)/dt": {"omega": 1.0, "sin(theta)": 0.0},
                "d(omega)/dt": {"sin(theta)": -9.79, "omega": -0.102, "tau": 2.01, "theta": 0.0},
            },
            "coefficients_std": {
                "d(theta)/dt": {"omega": 0.001},
                "d(omega)/dt": {"sin(theta)": 0.05, "omega": 0.004, "tau": 0.02},
            },
            "inclusion_probability": {
                "d(theta)/dt": {"omega": 1.0},
                "d(omega)/dt": {"sin(theta)": 1.0, "omega": 0.85, "tau": 1.0},
            },
            "true_coefficients": {
                "d(theta)/dt": {"omega": 1.0},
                "d(omega)/dt": {"sin(theta)": -9.81, "omega": -0.1, "tau": 2.0},
            },
        },
        "cartpole": {
            "state_names": SYSTEMS["cartpole"]["states"],
            "action_names": SYSTEMS["cartpole"]["actions"],
            "equations": [
                "d(x)/dt = 1.000 x_dot",
                "d(x_dot)/dt = 0.912 force + 0.120 sin(theta)",
                "d(theta)/dt = 1.000 theta_dot",
                "d(theta_dot)/dt = 10.8 sin(theta) + -1.39 force",
            ],
            "coefficients": {
                "d(x)/dt": {"x_dot": 1.0},
                "d(x_dot)/dt": {"force": 0.912, "sin(theta)": 0.12},
                "d(theta)/dt": {"theta_dot": 1.0},
                "d(theta_dot)/dt": {"sin(theta)": 10.8, "force": -1.39},
            },
        },
    }
    results: dict[str, Any] = {
        "format_version": 1,
        "setup": {
            "hybridwm": "0.1.0",
            "python": "3.12.3",
            "torch": "2.5.1",
            "mujoco": "3.2.7",
            "pysindy": "2.1.0",
            "machine": "test-box (2 cores)",
            "started": "2025-01-01T10:00:00",
            "finished": "2025-01-01T10:05:00",
        },
        "systems": systems,
        "metrics": rows,
    }
    results.update(results_overrides or {})
    (path / "results.json").write_text(json.dumps(results, indent=2))
    pd.DataFrame(rows).to_parquet(path / "metrics.parquet")

    if with_curves:
        t = np.linspace(0.0, 1.0, 11)
        curves = []
        for (system, scenario), _ in BASE_NRMSE.items():
            for model in MODELS:
                for seed in SEEDS:
                    v = nrmse_value(system, scenario, model, seed)
                    for tk in t:
                        curves.append(
                            {
                                "system": system,
                                "model": model,
                                "scenario": scenario,
                                "seed": seed,
                                "t": float(tk),
                                "nrmse": v * (0.2 + 1.6 * tk),
                            }
                        )
        pd.DataFrame(curves).to_parquet(path / "curves.parquet")

    if with_samples:
        (path / "samples").mkdir(exist_ok=True)
        t = np.linspace(0.0, 2.0, 41)
        for system, spec in SYSTEMS.items():
            for scenario in SCENARIOS:
                frames = []
                for ep in range(2):
                    for src in ["truth", *MODELS]:
                        err = 0.0 if src == "truth" else BASE_NRMSE[(system, scenario)][src]
                        d = {"episode": ep, "t": t, "source": src}
                        for j, s in enumerate(spec["states"]):
                            phase = 0.7 * j + 0.3 * ep
                            d[s] = np.sin(2.0 * t + phase) * (1 + j) + err * t * (1 + j)
                        frames.append(pd.DataFrame(d))
                pd.concat(frames, ignore_index=True).to_parquet(
                    path / "samples" / f"{system}__{scenario}.parquet"
                )
    return path


@pytest.fixture
def run_factory(tmp_path: Path) -> Callable[..., Path]:
    """Build run directories under ``tmp_path``: ``run_factory("name", **options)``."""

    def make(name: str = "run", **kwargs: Any) -> Path:
        return make_run_dir(tmp_path / name, **kwargs)

    return make


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    """The fixture run rendered once per test module: ``(run_dir, paths)``."""
    import warnings

    from hybridwm.reports import render_report

    run = make_run_dir(tmp_path_factory.mktemp("bench") / "run-quick")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        paths = render_report(run)
    return run, paths
