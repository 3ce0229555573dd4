"""How far each incomplete-physics rig is from its ideal system, effect by effect.

For every rig (``pendulum-rig``, ``cartpole-rig``, ``acrobot-rig``, ``reacher-rig``) and the
scenarios ``--scenarios`` (default ``train`` and ``id``; ``--n`` episodes of ``--duration`` s, seed 0), the ideal base
system is simulated from the same initial states under the same actions, and the open-loop
nRMSE of the ideal trajectories against the rig's is printed (``hybridwm.metrics.
nrmse_trajectories``: RMSE over every sample after the first, divided by each state's std on the
rig's data). Rows:

- ``all off``: the rig with every effect switched off (friction 0, ``motor_tau`` 0,
  ``force_limit`` at the action bound, ``air_density`` 0): must be 0, the rig is its base;
- one row per effect alone (the others off);
- ``rig``: all effects together (the rig's defaults).

``--discover`` also runs the discovery a user would run: the ``full`` preset's settings for the
base system on ``--n-train`` rig episodes of ``--duration`` s with 2% noise
(``smoothed_finite_difference``), then rolls the discovered equations out on the rig's ``id``
episodes (3 s and ``--eval-duration`` s) and prints their nRMSE, beside the same discovery on the
ideal system's data (the exact-physics reference).

Usage:
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_rigs.py [--systems pendulum-rig ...]
        [--n 32] [--duration 3.0] [--scenarios train id ...] [--discover] [--n-train 32] [--eval-duration 10.0]
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import torch

from hybridwm.data import TrajectorySet
from hybridwm.evaluation import load_preset
from hybridwm.metrics import nrmse_trajectories
from hybridwm.physics import DiscoverConfig, discover
from hybridwm.systems import System, get_system, simulate

RIGS = ("pendulum-rig", "cartpole-rig", "acrobot-rig", "reacher-rig")
NOISE = 0.02


def effects_off(rig: System) -> dict[str, float]:
    """The parameter values that switch every effect of ``rig`` off."""
    base = get_system(rig.base).parameters
    off = {p: 0.0 for p in rig.parameters if p not in base}
    off["force_limit"] = float(np.abs(rig.action_bounds).max())
    return off


def effect_groups(rig: System) -> dict[str, list[str]]:
    """``{effect: its parameters}`` of ``rig`` (the friction parameters are the rest)."""
    added = set(rig.parameters) - set(get_system(rig.base).parameters)
    groups = {
        "motor lag": ["motor_tau"],
        "saturation": ["force_limit"],
        "air drag": ["air_density"],
    }
    friction = sorted(added - {p for params in groups.values() for p in params})
    return {"friction": friction, **groups}


def _run(system: str, scenario: str, n: int, duration: float, params: dict[str, float]):
    return simulate(
        system=system, scenario=scenario, n_trajectories=n, duration=duration, seed=0,
        params=params,
    )  # fmt: skip


def gaps(rig_name: str, scenario: str, n: int, duration: float) -> dict[str, float]:
    """nRMSE of the ideal system against the rig with each effect alone, all and none."""
    rig = get_system(rig_name)
    ideal = _run(rig.base, scenario, n, duration, {})
    off = effects_off(rig)
    rows = {"all off": off}
    for effect, params in effect_groups(rig).items():
        rows[effect] = {k: v for k, v in off.items() if k not in params}
    rows["rig"] = {}
    out = {}
    for label, params in rows.items():
        data = _run(rig_name, scenario, n, duration, params)
        for a, b in zip(ideal, data, strict=True):  # same initial states and actions
            np.testing.assert_array_equal(a.x[0], b.x[0])
            np.testing.assert_array_equal(a.u, b.u)
        out[label] = nrmse_trajectories(ideal, data)
    return out


def _rollout_nrmse(phys, data: TrajectorySet) -> tuple[float, int]:
    """nRMSE of the equations' open-loop rollouts on ``data`` and the number that diverged."""
    x0 = np.stack([tr.x[0] for tr in data])
    u = np.stack([tr.u for tr in data])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        pred = phys.simulate(x0, u, data[0].t)
    bad = ~np.isfinite(pred).all(axis=(1, 2))
    pred = TrajectorySet.from_arrays(
        data[0].t, np.where(np.isfinite(pred), pred, 1e6), u, data.state_names, data.action_names
    )
    return nrmse_trajectories(pred, data), int(bad.sum())


def discovery(rig_name: str, n_train: int, duration: float, eval_duration: float) -> None:
    """Discover on noisy rig (and ideal) data with the full preset's settings; print rollouts."""
    rig = get_system(rig_name)
    settings = dict(load_preset("full").discover.get(rig.base, {}))
    settings.update(seed=0, differentiation="smoothed_finite_difference")
    cfg = DiscoverConfig.from_dict(settings)
    for system in (rig_name, rig.base):
        train = _run(system, "train", n_train, duration, {}).add_noise(NOISE, seed=1)
        phys = discover(train, config=cfg)
        cells = []
        for horizon in (duration, eval_duration):
            err, bad = _rollout_nrmse(phys, _run(system, "id", 16, horizon, {}))
            cells.append(f"id {horizon:g} s: {err:.3g} ({bad} diverged)")
        print(f"  physics-only discovered on {system:13s} " + ", ".join(cells))
        print("    " + "\n    ".join(phys.equations()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--systems", nargs="+", default=list(RIGS))
    ap.add_argument("--n", type=int, default=32, help="episodes per scenario")
    ap.add_argument("--duration", type=float, default=3.0, help="seconds per episode")
    ap.add_argument("--scenarios", nargs="+", default=["train", "id"])
    ap.add_argument("--discover", action="store_true", help="also run the discovery check")
    ap.add_argument("--n-train", type=int, default=32)
    ap.add_argument("--eval-duration", type=float, default=10.0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    for name in args.systems:
        rig = get_system(name)
        print(f"{name}: {rig.description}")
        print(f"  defaults: { {k: rig.parameters[k] for k in effects_off(rig)} }")
        table = {sc: gaps(name, sc, args.n, args.duration) for sc in args.scenarios}
        print(f"  {'nRMSE ideal vs rig':22s}" + "".join(f"{sc:>12s}" for sc in table))
        for label in table[args.scenarios[0]]:
            print(f"  {label:22s}" + "".join(f"{table[sc][label]:12.4f}" for sc in table))
        if args.discover:
            discovery(name, args.n_train, args.duration, args.eval_duration)


if __name__ == "__main__":
    main()
