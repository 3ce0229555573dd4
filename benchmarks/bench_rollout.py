"""Overhead of ``WorldModel.rollout`` over a bare torchdiffeq ``odeint`` on the same vector field.

Both integrate the hybrid pendulum field (physics + 64x64 MLP residual) with fixed-step rk4 on
the sample grid (``perturb=True``), batch 1024 x 300 steps, under ``torch.no_grad``. The bare
version closes over the held actions the plain way (``searchsorted`` on the grid + indexing);
``WorldModel.rollout`` adds input validation and dtype/device conversion, and integrates in
``hybridwm.dynamics.integrate``'s own fixed-step loop (torchdiffeq's arithmetic, the interval's
action bound directly; bit-identical states, so ``max |diff|`` prints 0). Prints the median of ``--repeats`` runs and the ratio (target <= 1.2x), on CPU and,
when available, CUDA.

    .venv/bin/python benchmarks/bench_rollout.py [--threads 1] [--repeats 7] [--batch 1024]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from torchdiffeq import odeint

from hybridwm.dynamics import MLP, PendulumPhysics, reference_dataset
from hybridwm.models import WorldModel
from hybridwm.training import TrainConfig


def build_model() -> tuple[WorldModel, str]:
    """A fitted hybrid pendulum model (discovered physics when hybridwm.physics works)."""
    data = reference_dataset(PendulumPhysics(3.0, 0.1, 1.0), 8, 60, 0.01, seed=0)
    physics, label = PendulumPhysics(3.0, 0.0, 1.0), "reference pendulum physics"
    try:
        from hybridwm.physics import discover

        physics, label = discover(data), "discovered (SINDy) pendulum physics"
    except Exception as exc:  # the physics helper may not be available yet
        label += f" (discover unavailable: {type(exc).__name__})"
    model = WorldModel.hybrid(physics, residual=MLP(hidden=(64, 64)))
    model.fit(data, TrainConfig(epochs=1, horizon=5, progress=False, validation_fraction=0.0))
    return model, label


def bare_rollout(field, x0: torch.Tensor, us: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """The plain torchdiffeq way: a closure looking the held action up by searchsorted."""
    last = us.shape[1] - 1

    def f(tt: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        k = (torch.searchsorted(t, tt.reshape(1), right=True) - 1).clamp(0, last)
        return field.vector_field(x, us[:, k[0]])

    return odeint(f, x0, t, method="rk4", options={"perturb": True}).transpose(0, 1)


def timeit(fn, repeats: int, sync) -> float:
    times = []
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def run(device: str, batch: int, steps: int, repeats: int, model: WorldModel) -> dict:
    model.to(device)
    field = model.model_.dynamics
    rng = np.random.default_rng(0)
    dt = 0.01
    x0 = torch.tensor(rng.uniform(-1, 1, (batch, 2)), device=device)
    us = torch.tensor(rng.uniform(-1, 1, (batch, steps, 1)), device=device)
    t = torch.arange(steps + 1, dtype=torch.float64, device=device) * dt
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    with torch.no_grad():
        a = model.rollout(x0, us, t)
        b = bare_rollout(field, x0, us, t)
        diff = float((a - b).abs().max())
        timeit(lambda: model.rollout(x0, us, t), 1, sync)  # warm-up
        timeit(lambda: bare_rollout(field, x0, us, t), 1, sync)
        tb, tw = [], []
        for _ in range(repeats):  # interleave to share any drift in machine load
            tb.append(timeit(lambda: bare_rollout(field, x0, us, t), 1, sync))
            tw.append(timeit(lambda: model.rollout(x0, us, t), 1, sync))
    bare, wm = statistics.median(tb), statistics.median(tw)
    return {"device": device, "bare_s": bare, "rollout_s": wm, "ratio": wm / bare, "max_diff": diff}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--steps", type=int, default=300)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    model, label = build_model()
    print(
        f"hybrid field: {label} + MLP(64, 64); batch {args.batch} x {args.steps} rk4 steps, "
        f"float64, threads={args.threads}, median of {args.repeats}"
    )
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for dev in devices:
        r = run(dev, args.batch, args.steps, args.repeats, model)
        print(
            f"{r['device']:>5}: bare odeint {r['bare_s'] * 1e3:8.1f} ms   WorldModel.rollout "
            f"{r['rollout_s'] * 1e3:8.1f} ms   ratio {r['ratio']:.3f}   max |diff| {r['max_diff']:.1e}"
        )


if __name__ == "__main__":
    main()
