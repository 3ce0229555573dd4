"""Time ``PhysicsModel.simulate`` (batched RK4, held actions) against pysindy's ``SINDy.simulate``.

The same discovered pendulum model (fitted on 20 noisy MuJoCo trajectories) is rolled out from
the initial states of 20 held-out MuJoCo trajectories ("id" scenario) for 300 steps of 0.01 s
under their recorded (held) torques. pysindy gets the equivalent model (our library through
``to_pysindy()`` and our coefficients) and is called the usual way, one trajectory at a time:
``model.simulate(x0, t, u=u)`` (cubic interpolation of u, last step dropped), and also with a
zero-order-hold callable ``u`` (the physically right input, harder for its adaptive solver).
Each one's RMSE against the MuJoCo ground truth is printed beside its time.

Usage:
    .venv/bin/python benchmarks/bench_physics_simulate.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np
import pysindy as ps
import torch

from hybridwm.physics import DiscoverConfig, discover
from hybridwm.systems import simulate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument(
        "--pysindy-n",
        type=int,
        default=5,
        help="trajectories given to pysindy (it takes ~5-17 s each); its time is scaled to all 20",
    )
    args = ap.parse_args()
    torch.set_num_threads(1)

    train = simulate(
        system="pendulum", scenario="train", n_trajectories=20, duration=5.0, dt=0.01, seed=0
    )
    train = train.add_noise(0.01, seed=1)
    model = discover(
        train,
        config=DiscoverConfig(
            library="trig", threshold=0.1, differentiation="savgol", window=21, polyorder=5
        ),
    )
    test = simulate(
        system="pendulum",
        scenario="id",
        n_trajectories=20,
        duration=args.steps * 0.01,
        dt=0.01,
        seed=7,
    )
    t, x_true, u = test.stack()
    x0 = x_true[:, 0]

    # ---- ours: one batched call
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        ours = model.simulate(x0, u, t)
        times.append(time.perf_counter() - t0)
    t_ours = statistics.median(times)
    rmse_ours = float(np.sqrt(np.mean((ours - x_true) ** 2)))
    rmse_ours_m1 = float(np.sqrt(np.mean((ours[:, :-1] - x_true[:, :-1]) ** 2)))

    # ---- pysindy: the equivalent SINDy model, simulated trajectory by trajectory
    sindy = ps.SINDy(feature_library=model.library.to_pysindy(), optimizer=ps.STLSQ(threshold=0.1))
    sindy.fit(train[0].x, t=train[0].t, u=train[0].u, feature_names=["theta", "omega", "torque"])
    sindy.optimizer.coef_ = model.coef_array
    check = np.abs(sindy.predict(x_true[0], u=u[0]) - model.predict(x_true[0], u[0])).max()

    def run_pysindy(zoh: bool) -> tuple[float, float, np.ndarray]:
        """(total seconds scaled to all trajectories, median seconds per call, outputs)."""
        outs, calls = [], []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for i in range(n_ps_traj):
                t0 = time.perf_counter()
                if zoh:
                    ui = u[i]

                    def fn(tt, ui=ui):
                        return ui[min(int(np.searchsorted(t, tt, side="right")) - 1, len(t) - 1)]

                    outs.append(sindy.simulate(x0[i], t, u=fn))
                else:
                    outs.append(sindy.simulate(x0[i], t, u=u[i]))
                calls.append(time.perf_counter() - t0)
        total = sum(calls) * len(x0) / n_ps_traj
        return total, statistics.median(calls), np.stack(outs)

    n_ps_traj = max(1, min(args.pysindy_n, len(x0)))

    t_ps, call_ps, out_ps = run_pysindy(zoh=False)
    n_ps = out_ps.shape[1]
    rmse_ps = float(np.sqrt(np.mean((out_ps - x_true[:n_ps_traj, :n_ps]) ** 2)))
    t_ps_zoh, call_ps_zoh, out_ps_zoh = run_pysindy(zoh=True)
    rmse_ps_zoh = float(
        np.sqrt(np.mean((out_ps_zoh - x_true[:n_ps_traj, : out_ps_zoh.shape[1]]) ** 2))
    )
    rmse_ours_sub = float(np.sqrt(np.mean((ours[:n_ps_traj] - x_true[:n_ps_traj]) ** 2)))

    print(f"model: {' | '.join(model.equations())}")
    print(f"pysindy predict == PhysicsModel.predict: max diff {check:.1e}")
    print(
        f"rollout: {len(x0)} trajectories x {args.steps} steps of 0.01 s, RMSE vs MuJoCo ground truth"
    )
    print(
        f"PhysicsModel.simulate (batched RK4)  {t_ours * 1e3:9.1f} ms  RMSE {rmse_ours:.3e} ({ours.shape[1]} samples; {rmse_ours_m1:.3e} on the first {ours.shape[1] - 1})"
    )
    if n_ps_traj < len(x0):
        print(
            f"pysindy ran on the first {n_ps_traj} trajectories (time scaled x{len(x0) / n_ps_traj:g}); "
            f"PhysicsModel RMSE on those: {rmse_ours_sub:.3e}"
        )
    print(
        f"SINDy.simulate, array u (default)    {t_ps * 1e3:9.1f} ms  RMSE {rmse_ps:.3e} ({n_ps} samples: last step dropped)"
    )
    print(
        f"SINDy.simulate, held-u callable      {t_ps_zoh * 1e3:9.1f} ms  RMSE {rmse_ps_zoh:.3e} ({out_ps_zoh.shape[1]} samples)"
    )
    print(
        f"median of {args.repeats} PhysicsModel.simulate calls (all {len(x0)} trajectories): "
        f"{t_ours * 1e3:.1f} ms; median of {n_ps_traj} SINDy.simulate calls (one trajectory "
        f"each): {call_ps * 1e3:.1f} ms (array u), {call_ps_zoh * 1e3:.1f} ms (held u)"
    )
    print(
        f"speed-up: {t_ps / t_ours:.0f}x (array u), {t_ps_zoh / t_ours:.0f}x (held u); "
        f"per trajectory from the medians: {call_ps * len(x0) / t_ours:.0f}x, "
        f"{call_ps_zoh * len(x0) / t_ours:.0f}x; target >= 100x at equal or better accuracy"
    )


if __name__ == "__main__":
    main()
