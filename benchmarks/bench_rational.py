"""Rational vs generic discovery: physics-only rollouts of cart-pole, acrobot and reacher.

For each system and seed: simulate the ``train`` scenario (32 episodes × 3 s, dt = 0.01, as in
the benchmark presets), discover its equations twice — with the generic library the presets
used before (``trig`` with a few extra terms for the cart-pole, ``trig-poly`` for the two-link
arms) and with the rational library of the ``full`` preset (mechanics terms over a denominator
``1 + d1 cos + d2 cos^2`` learned from the data) — and roll each physics-only model out open-loop
over 16 episodes × 3 s of the ``id``, ``ood-state`` and ``ood-action`` scenarios. Prints nRMSE
(``inf`` when a rollout diverged, with the count), the number of terms and the discovery time.

    .venv/bin/python benchmarks/bench_rational.py --seeds 0 1 2

Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np
import torch

from hybridwm.evaluation import evaluate, load_preset
from hybridwm.models import WorldModel
from hybridwm.physics import DiscoverConfig, discover
from hybridwm.systems import simulate
from hybridwm.training import TrainConfig

GENERIC = {
    "cartpole": DiscoverConfig(
        library="trig",
        angles=("theta",),
        action_products=("cos(theta)",),
        features=("v", "omega", "omega^2*sin(theta)", "sin(theta)*cos(theta)"),
    ),
    "acrobot": DiscoverConfig(library="trig-poly", angles=("theta1", "theta2")),
    "reacher": DiscoverConfig(library="trig-poly", angles=("theta1", "theta2")),
}
SCENARIOS = ("id", "ood-state", "ood-action")


def physics_errors(system: str, cfg: DiscoverConfig, seed: int) -> tuple[dict, int, float]:
    """nRMSE per scenario (and diverged counts) of the physics-only model; terms; seconds."""
    train = simulate(
        system=system, scenario="train", n_trajectories=32, duration=3.0, dt=0.01, seed=seed
    )
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        phys = discover(train, config=cfg)
    seconds = time.perf_counter() - started
    model = WorldModel.physics(phys).fit(train, config=TrainConfig(epochs=1, progress=False))
    out = {}
    for k, sc in enumerate(SCENARIOS):
        data = simulate(
            system=system,
            scenario=sc,
            n_trajectories=16,
            duration=3.0,
            dt=0.01,
            seed=1000 + 10 * seed + k,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = evaluate(model, data).metrics
        out[sc] = (m["nrmse"], int(m["diverged"]))
    return out, phys.n_terms, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", nargs="+", default=["cartpole", "acrobot", "reacher"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    torch.set_num_threads(1)
    preset = load_preset("full")

    print("| system | library | terms | discover [s] | " + " | ".join(SCENARIOS) + " |")
    print("|---|---|---|---|" + "---|" * len(SCENARIOS))
    for system in args.systems:
        configs = {
            "generic": GENERIC[system],
            "rational": DiscoverConfig.from_dict(preset.discover[system]),
        }
        for name, cfg in configs.items():
            runs = [physics_errors(system, cfg, seed) for seed in args.seeds]
            cells = []
            for sc in SCENARIOS:
                vals = np.array([r[0][sc][0] for r in runs])
                div = sum(r[0][sc][1] for r in runs)
                if np.isfinite(vals).all():
                    cells.append(
                        f"{vals.mean():.3g} ± {vals.std(ddof=1) if len(vals) > 1 else 0:.2g}"
                    )
                else:
                    cells.append(f"inf ({div} of {16 * len(runs)} diverged)")
            terms = statistics.median(r[1] for r in runs)
            secs = statistics.median(r[2] for r in runs)
            print(f"| {system} | {name} | {terms:g} | {secs:.2f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
