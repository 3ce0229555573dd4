"""Accuracy of hybrid vs learned vs physics-only world models under a training-time budget.

For each system: simulate the ``train`` scenario (32 episodes x 3 s at dt = 0.01, seed 0),
discover the physics with SINDy (``hybridwm.physics.discover`` defaults), fit each model kind
with the default ``TrainConfig`` and ``max_time = --budget`` seconds, then report open-loop
nRMSE (``hybridwm.training.metrics``: per-state RMSE / ground-truth std, averaged over states,
over every sample after the initial state) on 16 fresh episodes (seed 100) of each scenario.

Pendulum: physics, default hybrid, default learned on id / ood-state / ood-action, plus the
checks "hybrid ID nRMSE <= 1e-3" and "hybrid OOD nRMSE <= 0.05 x learned".
Cartpole: physics, hybrid, learned on id / ood-state / ood-params, and the PINN ablation
(hybrid with pinn_weight = 0 vs the default).

    .venv/bin/python benchmarks/bench_train.py [--system pendulum|cartpole|all] [--budget 120]
"""

from __future__ import annotations

import argparse
import math
import time

import torch

from hybridwm.errors import HybridWMError
from hybridwm.models import WorldModel
from hybridwm.training import TrainConfig, nrmse_trajectories

SCENARIOS = {
    "pendulum": ("id", "ood-state", "ood-action"),
    "cartpole": ("id", "ood-state", "ood-params"),
}


def evaluate(model: WorldModel, tests: dict) -> dict[str, float]:
    out = {}
    for name, data in tests.items():
        try:
            out[name] = nrmse_trajectories(model.predict(data), data)
        except HybridWMError:  # a diverging open-loop prediction (NaN/inf)
            out[name] = math.inf
    return out


def run_system(system: str, budget: float, threads: int, seed: int) -> dict[str, dict]:
    from hybridwm.physics import discover
    from hybridwm.systems import simulate

    train = simulate(
        system=system, scenario="train", n_trajectories=32, duration=3.0, dt=0.01, seed=seed
    )
    physics = discover(train)
    tests = {
        sc: simulate(system=system, scenario=sc, n_trajectories=16, duration=3.0, dt=0.01, seed=100)
        for sc in SCENARIOS[system]
    }
    cfg = TrainConfig(epochs=100_000, max_time=budget, threads=threads, seed=seed, progress=False)
    runs = {
        "physics": (lambda: WorldModel.physics(physics), cfg),
        "hybrid": (lambda: WorldModel.hybrid(physics), cfg),
        "learned": (lambda: WorldModel.learned(), cfg),
    }
    if system == "cartpole":
        runs["hybrid pinn_weight=0"] = (
            lambda: WorldModel.hybrid(physics),
            cfg.replace(pinn_weight=0.0),
        )
    results: dict[str, dict] = {}
    print(f"\n### {system}  (train: 32 x 3 s, budget {budget:g} s, threads {threads})")
    print("equations:\n    " + "\n    ".join(physics.equations()))
    head = " | ".join(SCENARIOS[system])
    print(f"\n| model | fit time (s) | epochs | stop | {head} |")
    print("|---|---|---|---|" + "---|" * len(SCENARIOS[system]))
    for name, (make, c) in runs.items():
        t0 = time.perf_counter()
        model = make().fit(train, c)
        fit_s = time.perf_counter() - t0
        scores = evaluate(model, tests)
        h = model.history_
        results[name] = {"fit_s": fit_s, "epochs": len(h) - 1, "stop": h.stop_reason, **scores}
        cells = " | ".join(f"{scores[s]:.3g}" for s in SCENARIOS[system])
        print(f"| {name} | {fit_s:.0f} | {len(h) - 1} | {h.stop_reason} | {cells} |", flush=True)
    if system == "pendulum":
        hy, le = results["hybrid"], results["learned"]
        print(f"\ncheck: hybrid id nRMSE {hy['id']:.2e} <= 1e-3: {hy['id'] <= 1e-3}")
        for sc in ("ood-state", "ood-action"):
            ratio = hy[sc] / le[sc] if le[sc] > 0 else math.inf
            print(f"check: hybrid/learned on {sc} = {ratio:.4f} <= 0.05: {ratio <= 0.05}")
    return results


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--system", default="all", choices=["pendulum", "cartpole", "all"])
    p.add_argument("--budget", type=float, default=120.0, help="training seconds per model")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    systems = ["pendulum", "cartpole"] if args.system == "all" else [args.system]
    for s in systems:
        run_system(s, args.budget, args.threads, args.seed)


if __name__ == "__main__":
    main()
