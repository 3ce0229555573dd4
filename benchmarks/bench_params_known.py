"""Parameter shifts the user knows: ``ood-params-known`` (issue 12, item 7).

"What if the pendulum were 1.5x heavier?" A model written in physical parameters can be told
the new values; a pure neural model cannot, unless it was trained on data from many parameter
values and conditioned on them. This script puts the two answers side by side on a shifted
system, with the same amount of data and the same number of optimizer steps for every model.

The user declares the rigid-body pendulum in its physical parameters (uniform rod on a damped
hinge, gravity fixed at the model's)::

    d(theta) = omega
    d(omega) = -(3*g/(2*length))*sin(theta) + 3/(mass*length**2)*(torque - damping*omega)

On ``pendulum`` the prior is exact (checked against the MuJoCo model's closed-form equations to
1e-9 before training); on ``pendulum-rig`` it misses the rig's Coulomb friction, motor lag,
force saturation and air drag, so the hybrid's residual has something to carry.

Models, all fitted with ``TrainConfig(steps=--steps, seed=seed)`` and the library's defaults:

* ``physics``: the prior, its ``mass``, ``length`` and ``damping`` trained on the nominal
  system (parameters start 25 % off);
* ``hybrid``: the same prior plus the 2x64 MLP residual (default APHYNITY training);
* ``learned``: the pure neural ODE on the nominal system (it cannot be told anything: zero-shot);
* ``learned-conditioned``: the pure neural ODE trained on the same number of episodes, each
  simulated with its own parameters drawn from the randomised box below, with the three
  parameter values as extra (constant) inputs; at test time it gets the shifted values.

The physics-aware models are then *told* the shift: every fitted parameter is multiplied by the
known factor (the user knows "1.5x heavier", not the true mass), the residual is kept as it
was. Rows ``told: no`` show the same fitted models evaluated without the change (zero-shot),
so the value of knowing shows.

The randomised box of ``learned-conditioned``: mass and length x[0.7, 1.3], damping
x[0.5, 2] (log-uniform), per episode. Shifts evaluated (on the ``id`` scenario's initial
states and actions, 16 episodes of 10 s, seed 1000):

* ``none``: the nominal system (the in-distribution baseline);
* ``inside``: mass x1.2, length x0.9, damping x1.5 (inside the box);
* ``preset``: mass x1.5, length x1.3, damping x3 (the presets' ``ood-params``, outside it);
* ``heavy``: mass x2 (outside it).

Reported: nRMSE per system x shift x model (median over seeds, and per seed with
``--per-seed``), and the hybrid's ratio to physics and to each learned model.

    .venv/bin/python benchmarks/bench_params_known.py [--systems pendulum,pendulum-rig]
        [--seeds 0,1,2] [--steps 500] [--json out.json]

Torch runs on one thread. Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hybridwm.data import TrajectorySet
from hybridwm.evaluation import evaluate
from hybridwm.models import WorldModel
from hybridwm.physics import PhysicsModel
from hybridwm.physics.priors import declare
from hybridwm.systems import get_system, simulate
from hybridwm.training import TrainConfig

PRIOR = (
    "d(theta) = omega",
    "d(omega) = -(3*g/(2*length))*sin(theta) + 3/(mass*length**2)*(torque - damping*omega)",
)
FREE = ("mass", "length", "damping")
START = 1.25  # the prior's parameters start at START x their true values
BOX = {"mass": (0.7, 1.3), "length": (0.7, 1.3), "damping": (0.5, 2.0)}
SHIFTS = {
    "none": {},
    "inside": {"mass": 1.2, "length": 0.9, "damping": 1.5},
    "preset": {"mass": 1.5, "length": 1.3, "damping": 3.0},
    "heavy": {"mass": 2.0},
}
MODELS = ("physics", "hybrid", "learned", "learned-conditioned")
N_TRAIN, TRAIN_SECONDS, N_EVAL, EVAL_SECONDS, DT = 32, 3.0, 16, 10.0, 0.01


# ---------------------------------------------------------------------------- setup
def make_prior(system: str) -> PhysicsModel:
    """The declared pendulum prior, its free parameters START x the nominal values."""
    sys_ = get_system(system)
    truth = sys_.parameters
    gravity = float(get_system("pendulum").true_equations().constants["g"])
    return declare(
        list(PRIOR),
        parameters={name: truth[name] * START for name in FREE},
        state_names=sys_.state_names,
        action_names=sys_.action_names,
        bounds={name: (0.0, None) for name in FREE},
        fixed={"g": gravity},
    )


def check_prior(prior: PhysicsModel, data: TrajectorySet) -> float:
    """Largest gap between the prior at the nominal parameters and the exact pendulum's
    closed-form equations on the states of ``data``; a wrong PRIOR stops the script."""
    _, x, u = data.stack()
    x, u = x.reshape(-1, x.shape[-1]), u.reshape(-1, u.shape[-1])
    truth = get_system("pendulum").parameters
    ideal = prior.with_parameters(**{p: truth[p] for p in FREE}).predict(x, u)
    gap = float(np.max(np.abs(ideal - get_system("pendulum").true_equations()(x, u))))
    if gap > 1e-9:
        raise SystemExit(f"PRIOR differs from the MuJoCo pendulum by {gap:.3g}; fix it.")
    return gap


def with_inputs(data: TrajectorySet, values: Sequence[dict[str, float]]) -> TrajectorySet:
    """``data`` with each episode's parameter values as constant extra action columns."""
    out = []
    for traj, vals in zip(data, values, strict=True):
        extra = np.tile([vals[p] for p in FREE], (len(traj), 1))
        out.append(
            traj.replace(
                u=np.hstack([traj.u, extra]),
                action_names=(*traj.action_names, *(f"param_{p}" for p in FREE)),
            )
        )
    return TrajectorySet(out)


def randomised_train(system: str, seed: int) -> TrajectorySet:
    """N_TRAIN episodes of ``train``, each with its own parameters from BOX, as inputs."""
    nominal = get_system(system).parameters
    rng = np.random.default_rng([seed, 7])
    episodes, values = [], []
    for i in range(N_TRAIN):
        draw = {p: math.exp(rng.uniform(math.log(lo), math.log(hi))) for p, (lo, hi) in BOX.items()}
        vals = {p: nominal[p] * draw[p] for p in FREE}
        one = simulate(
            system=system,
            scenario="train",
            n_trajectories=1,
            duration=TRAIN_SECONDS,
            dt=DT,
            seed=10_000 * seed + i,
            params=vals,
            progress=False,
        )
        episodes.append(one[0])
        values.append(vals)
    return with_inputs(TrajectorySet(episodes), values)


def shifted_tests(system: str) -> dict[str, tuple[TrajectorySet, TrajectorySet]]:
    """Per shift: (plain episodes, the same episodes with the parameter inputs)."""
    nominal = get_system(system).parameters
    out = {}
    for name, factors in SHIFTS.items():
        vals = {p: nominal[p] * factors.get(p, 1.0) for p in FREE}
        data = simulate(
            system=system,
            scenario="id",
            n_trajectories=N_EVAL,
            duration=EVAL_SECONDS,
            dt=DT,
            seed=1000,
            params=vals,
            progress=False,
        )
        out[name] = (data, with_inputs(data, [vals] * len(data)))
    return out


# ---------------------------------------------------------------------------- models
def fit(kind: str, prior: PhysicsModel | None, data: TrajectorySet, steps: int, seed: int):
    """A WorldModel of ``kind`` fitted with ``steps`` optimizer steps; (model, seconds)."""
    model = WorldModel.from_kind(kind, physics=prior)
    config = TrainConfig(steps=steps, seed=seed, progress=False, threads=1)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(data, config)
    return model, time.perf_counter() - start


def told(model: WorldModel, factors: dict[str, float]) -> WorldModel:
    """A copy of a physics-aware ``model`` whose fitted parameters are multiplied by the
    known ``factors`` (the residual, if any, unchanged)."""
    fitted = model.physics_.parameter_values
    return model.with_parameters(**{p: fitted[p] * factors.get(p, 1.0) for p in FREE})


def nrmse(model: WorldModel, data: TrajectorySet) -> float:
    """Open-loop nRMSE of ``model`` on ``data`` (inf when a rollout diverged)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(evaluate(model, data).metrics["nrmse"])


def run_seed(system: str, seed: int, steps: int, setup: dict[str, Any]) -> list[dict[str, Any]]:
    """Every model of MODELS fitted with ``seed``, scored on every shift."""
    rows: list[dict[str, Any]] = []
    tests = setup["tests"]
    for name in MODELS:
        kind = "learned" if name.startswith("learned") else name
        data = setup["randomised"] if name == "learned-conditioned" else setup["train"]
        model, seconds = fit(kind, None if kind == "learned" else setup["prior"], data, steps, seed)
        fitted = {} if kind == "learned" else dict(model.physics_.parameter_values)
        for shift, factors in SHIFTS.items():
            plain, conditioned = tests[shift]
            if name == "learned-conditioned":
                cases = [("yes", model, conditioned)]
            elif kind == "learned":
                cases = [("no", model, plain)]
            else:
                cases = [("no", model, plain), ("yes", told(model, factors), plain)]
            for is_told, m, d in cases:
                rows.append(
                    {
                        "system": system,
                        "seed": seed,
                        "model": name,
                        "shift": shift,
                        "told": is_told,
                        "nrmse": nrmse(m, d),
                        "fitted": {p: float(v) for p, v in fitted.items() if p in FREE},
                        "steps": model.history_.steps,
                        "seconds": round(seconds, 1),
                    }
                )
        print(
            f"  {system} seed {seed} {name}: {seconds:.0f} s, "
            + ", ".join(
                f"{r['shift']}/{r['told']} {r['nrmse']:.4g}"
                for r in rows
                if r["model"] == name and r["seed"] == seed
            ),
            flush=True,
        )
    return rows


# ---------------------------------------------------------------------------- tables
def median_table(rows: list[dict[str, Any]], system: str) -> list[str]:
    """Median nRMSE over seeds per shift x (model, told), and the hybrid's ratios."""
    lines = [
        f"\n### {system}: median nRMSE over seeds",
        "",
        "| shift | model | told | nRMSE | hybrid (told) / this |",
        "|---|---|---|---|---|",
    ]
    for shift in SHIFTS:
        med = {}
        for r in rows:
            if r["system"] == system and r["shift"] == shift:
                med.setdefault((r["model"], r["told"]), []).append(r["nrmse"])
        med = {k: statistics.median(v) for k, v in med.items()}
        hybrid = med.get(("hybrid", "yes"), math.nan)
        for (model, is_told), value in med.items():
            ratio = hybrid / value if value > 0 and math.isfinite(value) else math.nan
            lines.append(f"| {shift} | {model} | {is_told} | {value:.4g} | {ratio:.3g} |")
    return lines


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--systems", default="pendulum,pendulum-rig")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--per-seed", action="store_true")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    args = parse_args(argv)
    torch.set_num_threads(1)
    seeds = [int(s) for s in args.seeds.split(",")]
    rows: list[dict[str, Any]] = []
    for system in args.systems.split(","):
        train = simulate(
            system=system,
            scenario="train",
            n_trajectories=N_TRAIN,
            duration=TRAIN_SECONDS,
            dt=DT,
            seed=0,
            progress=False,
        )
        prior = make_prior(system)
        gap = check_prior(prior, train)
        print(
            f"\n## {system} (prior vs MuJoCo pendulum: {gap:.2g}); {args.steps} steps", flush=True
        )
        setup = {"train": train, "prior": prior, "tests": shifted_tests(system)}
        for seed in seeds:
            setup["randomised"] = randomised_train(system, seed)
            rows += run_seed(system, seed, args.steps, setup)
        print("\n".join(median_table(rows, system)), flush=True)
        if args.json:
            args.json.write_text(json.dumps(rows, indent=1))
    return rows


if __name__ == "__main__":
    main()
