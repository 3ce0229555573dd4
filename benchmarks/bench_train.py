"""Accuracy of hybrid vs learned vs physics-only world models under a training-time budget.

For each system: simulate the ``train`` scenario (32 episodes x 3 s at dt = 0.01, seed 0),
discover the physics with SINDy, fit each model kind with the default ``TrainConfig`` and
``max_time = --budget`` seconds, then report open-loop nRMSE (``hybridwm.metrics``:
per-state RMSE / ground-truth std, averaged over states, over every sample after the initial
state) on 16 fresh episodes (seed 100) of each scenario. Diverged predictions count as ``inf``
(``predict(on_diverge="nan")``); the table says how many episodes diverged.

Discovery: pendulum with ``discover`` defaults; cartpole with the benchmark preset's readable
library, ``DiscoverConfig(library="trig", angles=("theta",), action_products=("cos(theta)",),
features=("v", "omega", "omega^2*sin(theta)", "sin(theta)*cos(theta)"))``.

The learned networks see angle states as (sin θ, cos θ) (``WorldModel(angles=None)`` infers
them from the data's system); ``--ablation`` adds a hybrid without that embedding
(``angles=()``, the behaviour before it existed) to show what it changes.

Pendulum: physics, default hybrid, default learned on id / ood-state / ood-action, plus the
checks "hybrid ID nRMSE <= 1e-3", "hybrid OOD nRMSE <= 0.05 x learned" and "hybrid within 10 %
of physics-only on every scenario". Cartpole: physics, hybrid, learned on id / ood-state /
ood-params, and the PINN ablation (hybrid with pinn_weight = 0 vs the default).

    .venv/bin/python benchmarks/bench_train.py [--system pendulum|cartpole|all] [--budget 120]
        [--collocation-scale S] [--ablation] [--models physics,hybrid,learned]
"""

from __future__ import annotations

import argparse
import math
import time
import warnings

import numpy as np
import torch

from hybridwm.metrics import nrmse_trajectories
from hybridwm.models import WorldModel
from hybridwm.training import TrainConfig

SCENARIOS = {
    "pendulum": ("id", "ood-state", "ood-action"),
    "cartpole": ("id", "ood-state", "ood-params"),
}


def evaluate(model: WorldModel, tests: dict) -> tuple[dict[str, float], dict[str, int]]:
    out, diverged = {}, {}
    for name, data in tests.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pred = model.predict(data, on_diverge="nan")
        n_bad = sum(bool(tr.meta.get("diverged")) for tr in pred)
        diverged[name] = n_bad
        out[name] = math.inf if n_bad else nrmse_trajectories(pred, data)
    return out, diverged


def discover_for(system: str, train):
    from hybridwm.physics import DiscoverConfig, discover

    if system == "cartpole":
        cfg = DiscoverConfig(
            library="trig",
            angles=("theta",),
            action_products=("cos(theta)",),
            features=("v", "omega", "omega^2*sin(theta)", "sin(theta)*cos(theta)"),
        )
        return discover(train, config=cfg)
    return discover(train)


def run_system(
    system: str,
    budget: float,
    threads: int,
    seed: int,
    scale: float | None,
    ablation: bool,
    models: list[str] | None,
) -> dict[str, dict]:
    from hybridwm.systems import simulate

    train = simulate(
        system=system, scenario="train", n_trajectories=32, duration=3.0, dt=0.01, seed=seed
    )
    physics = discover_for(system, train)
    tests = {
        sc: simulate(system=system, scenario=sc, n_trajectories=16, duration=3.0, dt=0.01, seed=100)
        for sc in SCENARIOS[system]
    }
    cfg = TrainConfig(epochs=100_000, max_time=budget, threads=threads, seed=seed, progress=False)
    if scale is not None:
        cfg = cfg.replace(collocation_scale=scale)
    runs = {
        "physics": (lambda: WorldModel.physics(physics), cfg),
        "hybrid": (lambda: WorldModel.hybrid(physics), cfg),
        "learned": (lambda: WorldModel.learned(), cfg),
    }
    if ablation:
        runs["hybrid, angles=()"] = (lambda: WorldModel.hybrid(physics, angles=()), cfg)
    if system == "cartpole":
        runs["hybrid pinn_weight=0"] = (
            lambda: WorldModel.hybrid(physics),
            cfg.replace(pinn_weight=0.0),
        )
    if models:
        runs = {k: v for k, v in runs.items() if k in models}
    results: dict[str, dict] = {}
    print(
        f"\n### {system}  (train: 32 x 3 s, budget {budget:g} s, threads {threads}, "
        f"collocation_scale {cfg.collocation_scale:g})"
    )
    print(
        f"equations ({physics.n_terms} terms, derivative R² on id {physics.score(tests['id']):.4f}):"
    )
    print("    " + "\n    ".join(physics.equations()))
    head = " | ".join(SCENARIOS[system])
    print(f"\n| model | angles | fit time (s) | epochs | stop | {head} |")
    print("|---|---|---|---|---|" + "---|" * len(SCENARIOS[system]))
    for name, (make, c) in runs.items():
        t0 = time.perf_counter()
        model = make().fit(train, c)
        fit_s = time.perf_counter() - t0
        scores, bad = evaluate(model, tests)
        h = model.history_
        results[name] = {"fit_s": fit_s, "epochs": len(h) - 1, "stop": h.stop_reason, **scores}
        cells = " | ".join(
            f"{scores[s]:.3g}" + (f" ({bad[s]} diverged)" if bad[s] else "")
            for s in SCENARIOS[system]
        )
        ang = ",".join(model.angles_) or "-"
        print(
            f"| {name} | {ang} | {fit_s:.0f} | {len(h) - 1} | {h.stop_reason} | {cells} |",
            flush=True,
        )
    if system == "pendulum" and {"hybrid", "learned", "physics"} <= set(results):
        hy, le, ph = results["hybrid"], results["learned"], results["physics"]
        print(f"\ncheck: hybrid id nRMSE {hy['id']:.2e} <= 1e-3: {hy['id'] <= 1e-3}")
        for sc in ("ood-state", "ood-action"):
            ratio = hy[sc] / le[sc] if le[sc] > 0 else math.inf
            print(f"check: hybrid/learned on {sc} = {ratio:.4f} <= 0.05: {ratio <= 0.05}")
        for sc in SCENARIOS[system]:
            r = hy[sc] / ph[sc] if ph[sc] > 0 else math.inf
            print(f"check: hybrid/physics on {sc} = {r:.3f} <= 1.1: {r <= 1.1}")
    return results


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--system", default="all", choices=["pendulum", "cartpole", "all"])
    p.add_argument("--budget", type=float, default=120.0, help="training seconds per model")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--collocation-scale", type=float, default=None)
    p.add_argument("--ablation", action="store_true", help="add a hybrid with angles=()")
    p.add_argument("--models", default=None, help="comma-separated subset of the rows")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    np.seterr(all="ignore")
    systems = ["pendulum", "cartpole"] if args.system == "all" else [args.system]
    models = args.models.split(",") if args.models else None
    for s in systems:
        run_system(
            s, args.budget, args.threads, args.seed, args.collocation_scale, args.ablation, models
        )


if __name__ == "__main__":
    main()
