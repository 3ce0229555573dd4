"""Make a rig-like sensor log of the MuJoCo cartpole: positions only, noisy, jittered clock.

The ground truth is the MuJoCo cartpole (``hybridwm.systems``, RK4 at 2 ms). Each episode is
logged the way a real rig would log it:

* the logger's clock ticks every 20 ms nominally, jittered by up to ±20 % (16..24 ms), with
  integer-millisecond timestamps (``time_ms``);
* only the cart position and the pole angle are measured (``cart_pos_m``, ``pole_angle_rad``),
  with 1 % Gaussian noise (1 % of each channel's spread over the file); the velocities are not
  measured at all;
* the motor command (``motor_cmd``, newtons) is logged exactly; it is held between its own
  timestamps. It is a random piecewise-constant excitation (up to half the motor's range, each
  value held for 2..25 log ticks) plus the operator's weak centring feedback
  ``-2 x - 2 v`` computed at each tick (so the cart stays near the middle of the rail),
  clipped to the motor's ±10 N;
* episodes (``run``) have different lengths.

The simulation uses the log's own grid: every timestamp is a multiple of 2 ms, so
``System.simulate`` runs each log interval at 2 ms with its command held over the fine steps,
and the states are read exactly at the logged times (no interpolation).

Files (written to ``--out``, default ``benchmarks/sensor_log/data``):

* ``train.csv``: 6 runs of 8..15 s (initial pole angle within ±0.8 rad of hanging);
* ``id.csv``: 8 runs of 4..6 s from the same distribution;
* ``ood-state.csv``: 8 runs of 4..6 s starting near upright (|theta| in [2.6, 3.1] rad);
* ``truth-<name>.csv``: the same runs with the true, noise-free states (for reference).

    .venv/bin/python benchmarks/sensor_log/make_log.py [--out DIR] [--seed 0]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from hybridwm.systems import get_system

FINE = 0.002  # s, simulation step (a multiple of the cartpole's 2 ms timestep)
TICK = 0.020  # s, nominal log period
JITTER = 0.2  # ± fraction of the period
NOISE = 0.01  # fraction of each measured channel's std
COLUMNS = {"x": "cart_pos_m", "theta": "pole_angle_rad"}

SETS = {
    "train": {"n": 6, "duration": (8.0, 15.0), "theta": (-0.8, 0.8), "symmetric": False},
    "id": {"n": 8, "duration": (4.0, 6.0), "theta": (-0.8, 0.8), "symmetric": False},
    "ood-state": {"n": 8, "duration": (4.0, 6.0), "theta": (2.6, 3.1), "symmetric": True},
}


def log_times(duration: float, rng: np.random.Generator) -> np.ndarray:
    """Jittered integer-ms timestamps (multiples of 2 ms), in seconds."""
    steps = []
    t = 0.0
    while t < duration:
        d = TICK * (1 + rng.uniform(-JITTER, JITTER))
        d = max(FINE, round(d / FINE) * FINE)
        steps.append(d)
        t += d
    return np.concatenate([[0.0], np.cumsum(steps)])


def commands(n_intervals: int, rng: np.random.Generator, amplitude: float) -> np.ndarray:
    """(n_intervals,) piecewise-constant random commands, each held for 2..25 log ticks."""
    out = np.empty(n_intervals)
    k = 0
    while k < n_intervals:
        hold = int(rng.integers(2, 26))
        out[k : k + hold] = rng.uniform(-amplitude, amplitude)
        k += hold
    return out


def make_set(name: str, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    spec = SETS[name]
    rng = np.random.default_rng([seed, list(SETS).index(name)])
    system = get_system("cartpole")
    amplitude = 0.5 * float(system.action_bounds[0, 1])
    truth_rows = []
    for run in range(spec["n"]):
        t = log_times(rng.uniform(*spec["duration"]), rng)
        excitation = commands(len(t) - 1, rng, amplitude)
        reps = np.round(np.diff(t) / FINE).astype(int)
        theta0 = rng.uniform(*spec["theta"])
        if spec["symmetric"] and rng.random() < 0.5:
            theta0 = -theta0
        x = np.array(
            [rng.uniform(-0.5, 0.5), theta0, rng.uniform(-0.5, 0.5), rng.uniform(-1.0, 1.0)]
        )
        xs, u_log = [x], []
        for k in range(len(t) - 1):  # closed loop: the command is computed at each tick
            u = float(np.clip(excitation[k] - 2.0 * x[0] - 2.0 * x[2], -10.0, 10.0))
            seg = system.simulate(x, np.full((reps[k], 1), u), FINE, nthread=1)[0]
            x = seg.x[-1]
            xs.append(x)
            u_log.append(u)
        xs = np.asarray(xs)
        u_rows = np.append(u_log, u_log[-1])
        label = f"{name}-{run:02d}"
        for k in range(len(t)):
            truth_rows.append(
                {"run": label, "time_ms": round(t[k] * 1000), "motor_cmd": u_rows[k]}
                | dict(zip(system.state_names, xs[k], strict=True))
            )
    truth = pd.DataFrame(truth_rows)
    log = truth[["run", "time_ms", "motor_cmd"]].copy()
    for state, col in COLUMNS.items():
        std = float(truth[state].std())
        log[col] = truth[state] + NOISE * std * rng.standard_normal(len(truth))
    return log[["run", "time_ms", "cart_pos_m", "pole_angle_rad", "motor_cmd"]], truth


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "data")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name in SETS:
        log, truth = make_set(name, args.seed)
        log.to_csv(args.out / f"{name}.csv", index=False)
        truth.to_csv(args.out / f"truth-{name}.csv", index=False)
        lengths = log.groupby("run", sort=False).size()
        dts = np.diff(log["time_ms"].to_numpy())
        dts = dts[dts > 0]
        print(
            f"{name}: {len(lengths)} runs, {len(log)} rows, samples per run "
            f"{lengths.min()}..{lengths.max()}, dt {dts.min()}..{dts.max()} ms"
        )


if __name__ == "__main__":
    main()
