"""Gymnasium round trip: collect → discover → fit learned / physics / hybrid → open-loop nRMSE.

For each environment, as a user of ``hybridwm[gym]`` would do it:

1. ``collect`` training episodes with a random policy (piecewise-constant where the
   environment tolerates it) and, with another seed, fresh test episodes;
2. ``discover`` equations over the observations with a generic library (polynomials of degree
   2, or trigonometric-polynomial features of the one observation that is an angle);
3. fit a learned, a physics-only (the discovered equations, frozen) and a hybrid model
   (discovered physics + residual) on the same data for the same number of optimizer steps;
4. roll every model out open loop over every fresh episode from its first observation under its
   recorded actions and report the nRMSE (hybridwm.metrics.nrmse_trajectories: mean over
   observations of RMSE / std, the initial sample left out) over the first second and over
   the whole episode ("div k": k episodes diverged).

The observations are the states (no ``observation_fn``): Pendulum-v1's ``cos θ, sin θ, θ̇``,
InvertedPendulum-v5's cart position, pole angle and their rates, Reacher-v5's 10 observations
(cosines and sines of the joint angles, the target, the joint rates, fingertip minus target).

Usage::

    .venv/bin/python benchmarks/gym_roundtrip.py                       # 300 steps per model
    .venv/bin/python benchmarks/gym_roundtrip.py --steps 1000 --envs Pendulum-v1

Not part of ``make test``. The planner comparison of issue 15 waits for the planning issue.
"""

from __future__ import annotations

import argparse
import time
import warnings
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch

from hybridwm.data import TrajectorySet
from hybridwm.envs import collect
from hybridwm.metrics import nrmse_trajectories
from hybridwm.models import WorldModel
from hybridwm.physics import DiscoverConfig, discover
from hybridwm.training import TrainConfig


@dataclass(frozen=True)
class Case:
    """One environment: its names, policy, amounts and the discovery library."""

    env_id: str
    states: tuple[str, ...]
    actions: tuple[str, ...]
    policy: str
    train_episodes: int
    test_episodes: int
    library: DiscoverConfig
    min_samples: int = 2


CASES = {
    "Pendulum-v1": Case(
        "Pendulum-v1",
        ("cos_theta", "sin_theta", "theta_dot"),
        ("torque",),
        "piecewise",
        20,
        10,
        DiscoverConfig(library="poly", degree=2),
    ),
    "InvertedPendulum-v5": Case(
        "InvertedPendulum-v5",
        ("x", "theta", "x_dot", "theta_dot"),
        ("force",),
        "random",  # it falls within 4-15 steps whatever the policy; random is the usual start
        200,
        40,
        DiscoverConfig(library="trig-poly", angles=("theta",), degree=2),
        6,  # discovery smooths over 5 samples; a 4-sample episode is dropped, as it suggests
    ),
    "Reacher-v5": Case(
        "Reacher-v5",
        (
            "cos_q1",
            "cos_q2",
            "sin_q1",
            "sin_q2",
            "target_x",
            "target_y",
            "q1_dot",
            "q2_dot",
            "dx",
            "dy",
        ),
        ("tau1", "tau2"),
        "piecewise",
        40,
        10,
        DiscoverConfig(library="poly", degree=2),
    ),
}


def gather(case: Case, episodes: int, seed: int) -> TrajectorySet:
    env = gym.make(case.env_id)
    data = collect(
        env,
        case.policy,
        episodes=episodes,
        seed=seed,
        state_names=case.states,
        action_names=case.actions,
    )
    return data.filter(lambda tr: len(tr) >= case.min_samples)


def first(data: TrajectorySet, seconds: float) -> TrajectorySet:
    """The first ``seconds`` of every episode."""
    return TrajectorySet(tr.slice(0, 1 + round(seconds / tr.meta["dt"])) for tr in data)


def score(model: WorldModel, test: TrajectorySet) -> tuple[float, int]:
    """(nRMSE, diverged episodes) of open-loop predictions of ``test``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        pred = model.predict(test, on_diverge="nan")
    diverged = sum(bool(tr.meta["diverged"]) for tr in pred)
    if diverged:
        return float("nan"), diverged
    return nrmse_trajectories(pred, test), 0


def run_case(case: Case, steps: int, seed: int) -> list[dict[str, object]]:
    train = gather(case, case.train_episodes, seed)
    test = gather(case, case.test_episodes, seed + 1000)
    horizon = int(min(10, train.lengths.min() - 1))
    start = time.perf_counter()
    physics = discover(train, config=case.library)
    discover_s = time.perf_counter() - start
    facts = (
        f"train {len(train)} ep / {train.n_samples} samples, test {len(test)} ep of "
        f"{test.lengths.min()}-{test.lengths.max()} samples, horizon {horizon}, discovered "
        f"{int(np.count_nonzero(physics.mask))} terms in {discover_s:.1f} s"
    )
    rows = []
    config = TrainConfig(steps=steps, horizon=horizon, progress=False, seed=seed)
    for kind in ("learned", "physics", "hybrid"):
        model = WorldModel.from_kind(kind, physics=None if kind == "learned" else physics)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            model.fit(train, config)
        fit_s = time.perf_counter() - start
        short, short_diverged = score(model, first(test, 1.0))
        full, full_diverged = score(model, test)
        rows.append(
            {
                "env": case.env_id,
                "kind": kind,
                "1s": f"{short:.4f}" if not short_diverged else f"div {short_diverged}",
                "full": f"{full:.4f}" if not full_diverged else f"div {full_diverged}",
                "fit_s": fit_s,
                "facts": facts,
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="optimizer steps per model")
    parser.add_argument("--envs", nargs="+", default=list(CASES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{args.steps} optimizer steps per model, seed {args.seed}, {args.threads} thread(s)")
    print(f"{'env':20s} {'kind':8s} {'nRMSE 1 s':>10s} {'nRMSE ep.':>10s} {'fit s':>7s}")
    for env_id in args.envs:
        rows = run_case(CASES[env_id], args.steps, args.seed)
        for row in rows:
            print(
                f"{row['env']:20s} {row['kind']:8s} {row['1s']:>10s} {row['full']:>10s} "
                f"{row['fit_s']:7.1f}",
                flush=True,
            )
        print(f"  {rows[0]['facts']}", flush=True)


if __name__ == "__main__":
    main()
