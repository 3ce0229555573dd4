"""Wall time for the default pendulum hybrid to reach ID nRMSE <= 1e-3 over 3 s rollouts.

For each seed: simulate the pendulum ``train`` scenario (32 episodes × 3 s, dt = 0.01),
discover its physics (trig-poly library, angle theta), fit ``WorldModel.hybrid(physics)`` with
the default ``TrainConfig`` except ``max_time`` (the budget) and ``threads``. The trainer
validates on whole held-out 3 s episodes of the training distribution (20 % of the episodes,
``validation_horizon=None``) after every epoch and records the elapsed time; the time to target
is the first record whose validation nRMSE is <= the target. The fitted model is then scored on
16 fresh ``id`` episodes (seed 100) as a check. Training time only: simulation and discovery
are not counted.

    .venv/bin/python benchmarks/bench_train_time.py --seeds 0 1 2 3 4 --budget 60

Prints one line per seed and the median time to target (target: <= 60 s on 2 CPU cores).
"""

from __future__ import annotations

import argparse
import statistics
import warnings

import torch

from hybridwm.metrics import nrmse_trajectories
from hybridwm.models import WorldModel
from hybridwm.physics import DiscoverConfig, discover
from hybridwm.systems import simulate
from hybridwm.training import TrainConfig


def time_to_target(history: object, target: float) -> tuple[float, int] | None:
    """(seconds, epoch) of the first validation at or below ``target``, or None."""
    for record in history.records:  # type: ignore[attr-defined]
        score = record.get("val_nrmse")
        if score is not None and score <= target and record.get("epoch", 0) > 0:
            return float(record["time"]), int(record["epoch"])
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--budget", type=float, default=60.0, help="max_time per fit, seconds")
    parser.add_argument("--target", type=float, default=1e-3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    times = []
    for seed in args.seeds:
        train = simulate(
            system="pendulum", scenario="train", n_trajectories=32, duration=3.0, dt=0.01, seed=seed
        )
        test = simulate(
            system="pendulum", scenario="id", n_trajectories=16, duration=3.0, dt=0.01, seed=100
        )
        phys = discover(train, config=DiscoverConfig(library="trig-poly", angles=("theta",)))
        cfg = TrainConfig(max_time=args.budget, seed=seed, threads=args.threads, progress=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = WorldModel.hybrid(physics=phys).fit(train, config=cfg)
            test_nrmse = nrmse_trajectories(model.predict(test), test)
        hit = time_to_target(model.history_, args.target)
        hist = model.history_
        if hit is None:
            print(
                f"seed {seed}: target {args.target:g} not reached in {args.budget:g} s "
                f"(best validation nRMSE {hist.best_score:.3g}, {len(hist) - 1} epochs); "
                f"test id nRMSE {test_nrmse:.3g}"
            )
            times.append(float("inf"))
        else:
            print(
                f"seed {seed}: validation nRMSE <= {args.target:g} after {hit[0]:.1f} s (epoch "
                f"{hit[1]}); at the end ({len(hist) - 1} epochs, stop: {hist.stop_reason}) "
                f"best validation {hist.best_score:.3g}, test id nRMSE {test_nrmse:.3g}"
            )
            times.append(hit[0])
    med = statistics.median(times)
    print(
        f"median time to ID nRMSE <= {args.target:g}: {med:.1f} s over {len(times)} seeds "
        f"(target <= 60 s: {'met' if med <= 60 else 'missed'})"
    )


if __name__ == "__main__":
    main()
