"""Speed of hybridwm's ground-truth simulation against a bare ``mujoco.rollout`` call.

Both sides simulate the same cartpole model, batch, horizon and thread count: ``--n``
trajectories of ``--steps`` control periods of ``--dt`` seconds (each ``dt/timestep`` MuJoCo
sub-steps). The hybridwm side is the path a user calls, ``System.simulate`` (validation, control
repetition, rollout, subsampling, building the TrajectorySet); the bare side is one
``mujoco.rollout.rollout`` call on ready-made arrays. Repeats alternate between the two and the
medians are reported, with their ratio (hybridwm / bare, in steps per second; 1.0 = no overhead).

    python benchmarks/bench_simulate.py --repeats 7 --n 256 --steps 1000
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import mujoco
import numpy as np
from mujoco import rollout as mj_rollout

from hybridwm.systems import get_system, make_policy
from hybridwm.systems.rollout import default_nthread


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed repeats per side (>= 5)")
    parser.add_argument("--n", type=int, default=256, help="trajectories in the batch")
    parser.add_argument("--steps", type=int, default=1000, help="control steps per trajectory")
    parser.add_argument("--dt", type=float, default=0.01, help="control period in seconds")
    parser.add_argument("--nthread", type=int, default=None, help="threads (default: all CPUs)")
    args = parser.parse_args()

    system = get_system("cartpole")
    nthread = args.nthread or default_nthread()
    n_sub = system.substeps(args.dt)
    rng = np.random.default_rng(0)
    x0 = rng.uniform(-0.5, 0.5, size=(args.n, system.n_x))
    actions = make_policy("random", amplitude=0.5).sample(
        args.n, args.steps, args.dt, system.action_bounds, rng
    )

    # Bare MuJoCo: same model, batch, horizon, threads; arrays prepared outside the timing.
    model = system.model()
    datas = [mujoco.MjData(model) for _ in range(nthread)]
    nstate = mujoco.mj_stateSize(model, mujoco.mjtState.mjSTATE_FULLPHYSICS.value)
    init = np.zeros((args.n, nstate))
    init[:, 1 : 1 + system.n_x] = x0
    ctrl = np.ascontiguousarray(np.repeat(actions, n_sub, axis=1))

    def bare() -> None:
        mj_rollout.rollout(model, datas, init, ctrl, persistent_pool=True)

    def ours() -> None:
        system.simulate(x0, actions, args.dt, nthread=nthread)

    # Same trajectories on both sides (sanity check), then warm-up.
    state, _ = mj_rollout.rollout(model, datas, init, ctrl, persistent_pool=True)
    sim = system.simulate(x0, actions, args.dt, nthread=nthread)
    diff = np.abs(sim[3].x[-1] - state[3, -1, 1 : 1 + system.n_x]).max()
    assert diff == 0.0, f"hybridwm and bare MuJoCo disagree by {diff}"

    times: dict[str, list[float]] = {"hybridwm": [], "bare": []}
    for _ in range(max(5, args.repeats)):
        for name, fn in (("bare", bare), ("hybridwm", ours)):
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)

    physics_steps = args.n * args.steps * n_sub
    control_steps = args.n * args.steps
    med = {k: statistics.median(v) for k, v in times.items()}
    print(
        f"cartpole: n={args.n} x {args.steps} control steps of dt={args.dt} "
        f"({n_sub} sub-steps of {system.timestep}), nthread={nthread}, "
        f"repeats={max(5, args.repeats)}, machine: {platform.machine()} {os.cpu_count()} CPUs, "
        f"mujoco {mujoco.__version__}"
    )
    for name in ("bare", "hybridwm"):
        print(
            f"  {name:9s} median {med[name] * 1e3:8.1f} ms  "
            f"{control_steps / med[name]:12,.0f} control steps/s  "
            f"{physics_steps / med[name]:12,.0f} physics steps/s  "
            f"(min {min(times[name]) * 1e3:.1f} ms, max {max(times[name]) * 1e3:.1f} ms)"
        )
    print(f"  ratio hybridwm/bare (steps/s): {med['bare'] / med['hybridwm']:.3f}")


if __name__ == "__main__":
    main()
