"""Zero-shot parameter shifts: how far apart are learned, physics and hybrid models?

Loads the models a benchmark run trained (``<run>/jobs/<system>/seed<k>/models/<kind>``, e.g.
from ``hybridwm demo``) and evaluates each of them, unchanged, on episodes of the ``id``
scenario (same initial states and actions as training) simulated with changed physical
parameters: one row per shift, nRMSE over 3 s open-loop rollouts, and the spread between the
best and the worst model, ``(max - min) / min``.

The point of the table: no model knows the new parameters, so every model that learned the
nominal system well carries the same mismatch. When the shifted system stays inside the
training box, their errors agree to about a percent and the winner of a zero-shot
``ood-params`` cell is decided by that noise, not by the model kind. What separates the models
is recalibration on a little data of the changed system (``WorldModel.adapt``, the benchmark's
``ood-params-adapted`` scenario; RESULTS.md "adaptation").

    .venv/bin/python benchmarks/bench_param_shift.py --run runs/demo --system pendulum

Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import ast
import warnings
from pathlib import Path

import torch

from hybridwm.evaluation import evaluate
from hybridwm.models import WorldModel
from hybridwm.systems import get_system, simulate

KINDS = ("learned", "physics", "hybrid", "hybrid-no-pinn")

DEFAULT_SHIFTS = {
    "pendulum": {
        "none": {},
        "mass x1.5, length x1.3, damping x3 (quick preset)": {
            "mass": 1.5,
            "length": 1.3,
            "damping": 3.0,
        },
        "mass x1.5": {"mass": 1.5},
        "mass x2": {"mass": 2.0},
        "mass x0.7": {"mass": 0.7},
        "mass x0.5": {"mass": 0.5},
        "mass x0.4": {"mass": 0.4},
        "length x1.3": {"length": 1.3},
        "mass x0.6, length x0.8": {"mass": 0.6, "length": 0.8},
        "damping x3": {"damping": 3.0},
        "damping x0": {"damping": 0.0},
        "mass x1.5, damping x3": {"mass": 1.5, "damping": 3.0},
        "gear x2": {"gear": 2.0},
    },
    "cartpole": {
        "none": {},
        "pole mass x2, length x1.5, rail damping x3 (quick preset)": {
            "pole_mass": 2.0,
            "pole_length": 1.5,
            "cart_damping": 3.0,
        },
        "cart mass x1.5": {"cart_mass": 1.5},
        "cart mass x0.7": {"cart_mass": 0.7},
        "pole mass x2": {"pole_mass": 2.0},
        "pole length x1.5": {"pole_length": 1.5},
        "rail damping x3": {"cart_damping": 3.0},
    },
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=Path("runs/demo"), help="benchmark run dir")
    parser.add_argument("--system", default="pendulum")
    parser.add_argument("--seed", type=int, default=0, help="the run's seed whose models to load")
    parser.add_argument("--data-seed", type=int, default=104, help="seed of the shifted episodes")
    parser.add_argument("--n", type=int, default=16, help="episodes per shift")
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument(
        "--shifts",
        default=None,
        help="python dict literal name -> {parameter: factor}; default: a list per system",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)

    shifts = ast.literal_eval(args.shifts) if args.shifts else DEFAULT_SHIFTS[args.system]
    models_dir = args.run / "jobs" / args.system / f"seed{args.seed}" / "models"
    models = {k: WorldModel.load(models_dir / k) for k in KINDS if (models_dir / k).exists()}
    if not models:
        raise SystemExit(f"no trained models under {models_dir}; run a benchmark first")
    base = get_system(args.system)

    print(f"# {args.system}: zero-shot nRMSE over {args.duration:g} s, {args.n} id episodes")
    print(f"| shift | {' | '.join(models)} | best | spread (max-min)/min |")
    print(f"|---|{'---|' * len(models)}---|---|")
    for name, scales in shifts.items():
        params = {k: base.defaults[k] * f for k, f in scales.items()}
        data = simulate(
            system=args.system,
            scenario="id",
            n_trajectories=args.n,
            duration=args.duration,
            dt=0.01,
            seed=args.data_seed,
            params=params,
        )
        scores = {}
        for kind, model in models.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                scores[kind] = evaluate(model, data).metrics["nrmse"]
        best = min(scores, key=scores.get)
        lo, hi = min(scores.values()), max(scores.values())
        cells = " | ".join(f"{v:.4g}" for v in scores.values())
        print(f"| {name} | {cells} | {best} | {(hi - lo) / lo:.1%} |", flush=True)


if __name__ == "__main__":
    main()
