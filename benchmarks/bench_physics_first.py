"""The physics-first phase of hybrid training (issue 12): the sweep that set its default.

A hybrid with trainable physics trains the physics alone for the first ``physics_first`` of its
steps (the residual held at exactly zero; the last ``physics_polish`` of those steps are L-BFGS
iterations on the physics), then physics and residual together. This script fits the declared
rigid-body pendulum prior of ``bench_params_known.py`` (parameters started 25 % off; exact on
``pendulum``, missing the rig's Coulomb friction, motor lag, saturation and drag on
``pendulum-rig``) as a physics-only model and as hybrids with each setting, every model with the
same data (32 x 3 s) and the same number of optimizer steps, and prints the nRMSE of 16 x 10 s
episodes of the ``id`` and ``ood-state`` scenarios with the fitted parameters.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_physics_first.py \
        [--systems pendulum,pendulum-rig] [--seeds 0,1,2] [--steps 500] [--settings 0,0.5,0.7]

Torch runs on one thread. Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import time
import warnings

import torch
from bench_params_known import DT, EVAL_SECONDS, N_EVAL, N_TRAIN, TRAIN_SECONDS, make_prior, nrmse

from hybridwm.models import WorldModel
from hybridwm.systems import simulate
from hybridwm.training import TrainConfig


def episodes(system: str, scenario: str, n: int, seconds: float, seed: int):
    """``n`` episodes of ``scenario`` on ``system``."""
    return simulate(
        system=system,
        scenario=scenario,
        n_trajectories=n,
        duration=seconds,
        dt=DT,
        seed=seed,
        progress=False,
    )


def run(system: str, seed: int, steps: int, settings: list[float]) -> None:
    """Fit physics-only and one hybrid per setting; print one line per model."""
    prior = make_prior(system)
    train = episodes(system, "train", N_TRAIN, TRAIN_SECONDS, seed)
    tests = {s: episodes(system, s, N_EVAL, EVAL_SECONDS, 1000) for s in ("id", "ood-state")}
    for kind, first in [("physics", 0.0)] + [("hybrid", f) for f in settings]:
        model = WorldModel.from_kind(kind, physics=prior)
        config = TrainConfig(steps=steps, seed=seed, progress=False, threads=1, physics_first=first)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(train, config)
        seconds = time.perf_counter() - start
        scores = " ".join(f"{s} {nrmse(model, d):.3g}" for s, d in tests.items())
        fitted = {k: round(float(v), 5) for k, v in model.physics_.parameter_values.items()}
        label = kind if kind == "physics" else f"hybrid physics_first={first}"
        print(
            f"{system} seed {seed} {label}: {scores}; best epoch {model.history_.best_epoch}, "
            f"{model.history_.steps} steps, {seconds:.0f} s; {fitted}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--systems", default="pendulum,pendulum-rig")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--settings", default="0,0.5,0.7", help="physics_first values")
    args = parser.parse_args()
    torch.set_num_threads(1)
    settings = [float(v) for v in args.settings.split(",")]
    for seed in (int(s) for s in args.seeds.split(",")):
        for system in args.systems.split(","):
            run(system, seed, args.steps, settings)


if __name__ == "__main__":
    main()
