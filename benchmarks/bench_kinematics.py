"""Pinned kinematic rows on the incomplete-physics rigs, and where the cart-pole rig's physics
goes wrong (issue 12).

``--part pins``: the ``realistic`` preset's physics-only model of each rig (its discovery
settings, 2 % noise, 32 x 3 s of training data, 16 x 10 s per scenario), discovered twice:
as the preset does, and with the kinematic rows pinned (``DiscoverConfig.kinematics``,
``d(q)/dt = v`` exactly, :mod:`hybridwm.physics.kinematics`). Prints the open-loop nRMSE on
``id``, ``ood-state`` and ``ood-action`` and the ratio pinned / preset. The benchmark's own
machinery runs both (``hybridwm.evaluation.benchmark``, one worker), in ``--out``.

``--part denominator``: the cart-pole rig's training record without noise (32 x 3 s, seed 0),
with every effect, with none, with one effect only and with all but one (the parameter values
of ``bench_rigs.effects_off``), discovered with the preset's rational settings and the rows
pinned; prints the estimated denominator ``D(theta)`` against the ideal system's
``1 - 0.0682 cos(theta)^2`` and the number of terms.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_kinematics.py [--part pins|denominator|all]
        [--seeds 0] [--out runs/bench_kinematics]

Not part of ``make test`` (minutes: one discovery per row).
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import pandas as pd
from bench_rigs import effect_groups, effects_off

from hybridwm.evaluation import benchmark, load_preset
from hybridwm.physics import DiscoverConfig, discover
from hybridwm.systems import get_system, simulate

PINS = {
    "pendulum-rig": ("theta=omega",),
    "cartpole-rig": ("x=v", "theta=omega"),
    "acrobot-rig": ("theta1=omega1", "theta2=omega2"),
    "reacher-rig": ("theta1=omega1", "theta2=omega2"),
}
SCENARIOS = ["id", "ood-state", "ood-action"]


def pins(seeds: list[int], out: Path) -> None:
    """Print the physics-only nRMSE of each rig with the preset's discovery and with pins."""
    preset = load_preset("realistic")
    tables = {}
    for label in ("preset", "pinned"):
        discover_settings = {
            system: dict(settings) | ({"kinematics": PINS[system]} if label == "pinned" else {})
            for system, settings in preset.discover.items()
        }
        cfg = load_preset(
            "realistic",
            models=["physics"],
            scenarios=SCENARIOS,
            seeds=seeds,
            workers=1,
            adapt={},
            discover=discover_settings,
        )
        benchmark(cfg, out / label, progress=False)
        m = pd.read_parquet(out / label / "metrics.parquet")
        m = m[m.metric == "nrmse"]
        tables[label] = m.groupby(["system", "scenario"])["value"].median()
    table = pd.DataFrame(tables)
    table["pinned / preset"] = table["pinned"] / table["preset"]
    print(f"physics-only nRMSE, median over seeds {seeds}")
    print(table.to_string(float_format=lambda v: f"{v:.4g}"))


def denominator() -> None:
    """Print the cart-pole rig's estimated denominator with each effect on or off."""
    settings = dict(load_preset("full").discover["cartpole"]) | {"kinematics": PINS["cartpole-rig"]}
    rig = get_system("cartpole-rig")
    off = effects_off(rig)
    rows = {"rig (every effect)": {}, "ideal (no effect)": off}
    for effect, params in effect_groups(rig).items():
        rows[f"only {effect}"] = {k: v for k, v in off.items() if k not in params}
        rows[f"without {effect}"] = {k: off[k] for k in params}
    print("cart-pole rig, no noise: the estimated D(theta) (ideal: 1 - 0.0682 cos(theta)^2)")
    for name, params in rows.items():
        ts = simulate(system="cartpole-rig", scenario="train", n_trajectories=32, duration=3.0,
                      dt=0.01, seed=0, params=params)  # fmt: skip
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = discover(ts, config=DiscoverConfig.from_dict(settings))
        den = model.info["rational"]["denominator"].replace("**", "^")
        print(f"  {name:22s} D = {den:30s} {model.n_terms} terms", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=["pins", "denominator", "all"], default="all")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--out", type=Path, default=Path("runs/bench_kinematics"))
    args = ap.parse_args()
    if args.part in ("pins", "all"):
        pins(args.seeds, args.out)
    if args.part in ("denominator", "all"):
        denominator()


if __name__ == "__main__":
    main()
