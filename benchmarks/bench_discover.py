"""Time ``hybridwm.physics.discover`` against a bare pysindy fit of the same problem.

Both fit the same library (``FeatureLibrary.to_pysindy()``), optimizer (STLSQ) and
differentiation (Savitzky-Golay smoothed finite differences) on the same 20 MuJoCo pendulum
trajectories x 501 samples (1% state noise); pysindy gets the trajectories as lists. discover
additionally aligns the action regressors with the held actions. Prints the median of
``--repeats`` runs, the ratio, and each one's worst coefficient error.

Usage:
    .venv/bin/python benchmarks/bench_discover.py [--repeats 7] [--library trig]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import pysindy as ps
import torch

from hybridwm.physics import DiscoverConfig, PhysicsModel, discover, make_library
from hybridwm.systems import get_system, simulate


def max_rel_error(coef: np.ndarray, names: list[str], true) -> tuple[float, int]:
    T = true.coefficient_matrix(names)
    nz = T != 0
    rel = np.abs(coef[nz] - T[nz]) / np.abs(T[nz])
    return float(rel.max()), int(((coef != 0) & ~nz).sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--library", default="trig")
    ap.add_argument("--threshold", type=float, default=0.1)
    args = ap.parse_args()
    torch.set_num_threads(1)

    data = simulate(
        system="pendulum", scenario="train", n_trajectories=20, duration=5.0, dt=0.01, seed=0
    )
    data = data.add_noise(0.01, seed=1)
    true = get_system("pendulum").true_equations()
    cfg = DiscoverConfig(
        library=args.library,
        threshold=args.threshold,
        differentiation="savgol",
        window=21,
        polyorder=5,
    )
    lib = make_library(args.library, data.state_names, data.action_names)
    xs, ts, us = [tr.x for tr in data], [tr.t for tr in data], [tr.u for tr in data]

    def ours() -> PhysicsModel:
        return discover(data, config=cfg)

    def bare() -> ps.SINDy:
        model = ps.SINDy(
            feature_library=lib.to_pysindy(),
            optimizer=ps.STLSQ(threshold=args.threshold, alpha=0.05),
            differentiation_method=ps.SmoothedFiniteDifference(
                smoother_kws={"window_length": 21, "polyorder": 5}
            ),
        )
        return model.fit(xs, t=ts, u=us, feature_names=list(data.state_names + data.action_names))

    ours(), bare()  # warm up both (imports, code generation)
    t_ours, t_bare = [], []
    for _ in range(args.repeats):  # interleaved so that machine load affects both alike
        t0 = time.perf_counter()
        m = ours()
        t_ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        s = bare()
        t_bare.append(time.perf_counter() - t0)
    med_o, med_b = statistics.median(t_ours), statistics.median(t_bare)
    err_o, spur_o = max_rel_error(m.coef_array, m.feature_names, true)
    err_b, spur_b = max_rel_error(np.asarray(s.coefficients()), lib.names, true)
    print(
        f"data: 20 pendulum trajectories x 501 samples, 1% noise; library {args.library!r} ({len(lib)} features)"
    )
    print(
        f"discover (aligned)     median {med_o * 1e3:8.1f} ms   max coef error {err_o:.4%}  spurious {spur_o}"
    )
    print(
        f"bare pysindy SINDy.fit median {med_b * 1e3:8.1f} ms   max coef error {err_b:.4%}  spurious {spur_b}"
    )
    print(
        f"ratio discover / pysindy = {med_o / med_b:.2f}  (target <= 1.2; discover < 2 s: {med_o < 2})"
    )
    print("\n".join(m.equations()))


if __name__ == "__main__":
    main()
