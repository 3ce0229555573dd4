"""Uncertainty of world-model ensembles (issue 16): calibrated intervals, change detection, cost.

Per system and seed: 32 training episodes of 3 s (``train`` scenario, dt 0.01), discovery with
each system's settings of the full preset (``--library preset``, the default since session 12:
``trig-poly`` for the pendulum, the rational path for the cart-pole and the arms), or with one
library for every system (``--library trig-poly``, the default before), then a
``WorldModelEnsemble`` of ``--members`` members (bootstrap over episodes, seeds ``seed + m``)
per kind, each member ``TrainConfig(steps=--steps, seed=seed + m)`` and otherwise the library's
defaults. Discovery bags ``--physics-draws`` models (E-SINDy, default 20; its aggregate is
the physics every hybrid member shares); the kind ``hybrid-draws`` gives each hybrid member
its own draw of the coefficients from the bagged mean and std instead. The ensembles are
recalibrated (a factor and a floor per horizon band and state, matched to 90 %) and the change
detector's threshold is set on ``--val-episodes`` (64; 16 before session 12) ``id`` validation
episodes (seed 1000 + seed); nothing is tuned on the test episodes.

Test scenarios, ``--test-episodes`` (64; 16 before session 12) episodes of ``--eval-duration`` s
each: ``id`` (seed ``seed``),
``ood-state`` (the scenario of that name), ``mass+20%`` and ``length+20%`` (the ``id``
initial states and actions with that parameter 1.2x the nominal; ``--shift`` sets the factor).

Printed, per system, kind and scenario (mean and spread over seeds):

* coverage of the central 90 % interval at horizons 10, 50, 100 steps, before (raw members'
  spread) and after recalibration, over every episode and state at that step;
* 50 % coverage at horizon 50 (after), CRPS (Gaussian, after; in scale units) over all steps;
* detection AUROC of ``id`` against each shifted scenario, for the ensemble's detector score
  (hybrid: disagreement + one-step error + distance from the training data, the last since
  session 9; learned: disagreement), and the flagged fraction;
* the rollout cost of the ensemble against one member (same batch of 16 x0 and 100-step action
  sequences, median of ``--repeats``), measured as a ratio in one run.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_uncertainty.py [--systems pendulum]
        [--seeds 0,1,2] [--kinds hybrid,hybrid-draws,learned] [--steps 150] [--members 5] [--physics-draws 20] [--json out.json]

Torch runs on one thread. Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from typing import Any

import numpy as np
import torch

from hybridwm.evaluation import evaluate
from hybridwm.evaluation.config import load_preset
from hybridwm.evaluation.detection import ChangeDetector
from hybridwm.metrics import (
    IntervalBand,
    UncertaintyDocument,
    UncertaintyRow,
    auroc,
    gaussian_interval,
)
from hybridwm.models.ensemble import WorldModelEnsemble
from hybridwm.physics import DiscoverConfig, discover
from hybridwm.systems import get_system, simulate
from hybridwm.training import TrainConfig

HORIZONS = (10, 50, 100)
#: the parameter whose value a "mass"/"length" shift scales, per system
SHIFTED = {
    "pendulum": {"mass": "mass", "length": "length"},
    "cartpole": {"mass": "pole_mass", "length": "pole_length"},
    "acrobot": {"mass": "mass2", "length": "length2"},  # the link on the actuated joint
    "reacher": {"mass": "mass2", "length": "length2"},
}


def _data(system: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    sim = {"system": system, "dt": 0.01, "progress": False}
    test = {**sim, "n_trajectories": args.test_episodes, "duration": args.eval_duration}
    val = {**test, "n_trajectories": args.val_episodes}
    base = get_system(system.removesuffix("-rig")).parameters
    out = {
        "train": simulate(**sim, scenario="train", n_trajectories=32, duration=3.0, seed=seed),
        "val": simulate(**val, scenario="id", seed=1000 + seed),
        "id": simulate(**test, scenario="id", seed=seed),
        "ood-state": simulate(**test, scenario="ood-state", seed=seed),
    }
    for what, name in SHIFTED.get(system.removesuffix("-rig"), {}).items():
        params = {name: base[name] * args.shift}
        label = f"{what}+{round((args.shift - 1) * 100)}%"
        out[label] = simulate(**test, scenario="id", seed=seed, params=params)
    return out


def _discover_config(system: str, seed: int, args: argparse.Namespace) -> DiscoverConfig:
    """``--library``'s discovery, or the full preset's for this system, bagged for E-SINDy."""
    bag = {"ensemble": args.physics_draws, "seed": seed}
    if args.library != "preset":
        return DiscoverConfig(library=args.library, **bag)
    settings = load_preset("full").discover[system.removesuffix("-rig")]
    return DiscoverConfig(**{**settings, **bag})


def _coverage(ev: Any, raw: Any) -> dict[str, float]:
    out = {}
    for h in HORIZONS:
        out[f"cov90@{h}"] = float(ev.uncertainty["coverage90"][h])
        out[f"raw90@{h}"] = float(raw.uncertainty["coverage90"][h])
    out["cov50@50"] = float(ev.uncertainty["coverage50"][50])
    out["crps"] = ev.uncertainty["crps"]
    out["nrmse"] = ev.metrics["nrmse"]
    return out


def _cost(ens: WorldModelEnsemble, data: Any, repeats: int) -> float:
    episodes = list(data)[:16]  # the same batch whatever --test-episodes is
    x0 = np.stack([tr.x[0] for tr in episodes])
    us = np.stack([tr.u[:100] for tr in episodes])
    one, times = ens.members_[0], {"one": [], "ensemble": []}
    for _ in range(repeats):  # interleaved, so load changes hit both alike
        for name, f in (("one", one.rollout), ("ensemble", ens.rollout_samples)):
            t0 = time.perf_counter()
            f(x0, us, dt=0.01)
            times[name].append(time.perf_counter() - t0)
    return float(np.median(times["ensemble"]) / np.median(times["one"]))


def _band(ens: WorldModelEnsemble, data: Any, system: str, kind: str, scenario: str) -> dict:
    """The first episode's truth, mean and recalibrated 90 % interval (an IntervalBand)."""
    pred = ens.predict(data[:1], on_diverge="nan", return_std=True)
    lo, hi = gaussian_interval(pred.mean[0].x, pred.std[0], 0.9)
    band = IntervalBand(
        system=system,
        model=kind,
        scenario=scenario,
        state_names=list(data.state_names),
        t=(data[0].t - data[0].t[0]).tolist(),
        truth=data[0].x.tolist(),
        mean=pred.mean[0].x.tolist(),
        lower=lo.tolist(),
        upper=hi.tolist(),
    )
    return band.model_dump(mode="json")


def _row(system: str, seed: int, kind: str, s: str, ev: Any, raw: Any, auc: Any) -> dict:
    unc = ev.uncertainty
    row = UncertaintyRow(
        system=system,
        model=kind,
        scenario=s,
        seed=seed,
        horizons=list(HORIZONS),
        coverage90=[float(unc["coverage90"][h]) for h in HORIZONS],
        coverage90_raw=[float(raw.uncertainty["coverage90"][h]) for h in HORIZONS],
        coverage50=[float(unc["coverage50"][h]) for h in HORIZONS],
        levels=unc["levels"],
        observed=unc["observed"],
        crps=unc["crps"],
        auroc=auc,
        flagged=float(np.mean(ev.detection["flagged"])),
    )
    return row.model_dump(mode="json")


def run_one(system: str, seed: int, kind: str, data: dict, phys: Any, args: Any) -> dict:
    cfg = TrainConfig(steps=args.steps, seed=seed, progress=False)
    base, draws = kind.removesuffix("-draws"), kind.endswith("-draws")
    ens = WorldModelEnsemble(
        base,
        physics=None if base == "learned" else phys,
        n_members=args.members,
        physics_draws=draws,
        seed=seed,
    ).fit(data["train"], cfg)
    raw = {s: evaluate(ens, data[s]) for s in data if s not in ("train", "val")}
    ens.calibrate(data["val"], level=0.9)
    det = ChangeDetector.fit(ens, data["val"])
    row: dict[str, Any] = {"system": system, "seed": seed, "kind": kind, "scenarios": {}}
    row["document_rows"], row["bands"] = [], []
    id_scores = None
    for s in raw:
        ev = evaluate(ens, data[s], detector=det)
        rec = _coverage(ev, raw[s])
        rec["flagged"] = float(np.mean(ev.detection["flagged"]))
        if s == "id":
            id_scores = ev.detection["score"]
        else:
            rec["auroc"] = auroc(id_scores, ev.detection["score"])
        row["scenarios"][s] = rec
        row["document_rows"].append(_row(system, seed, kind, s, ev, raw[s], rec.get("auroc")))
        if seed == args.band_seed:
            row["bands"].append(_band(ens, data[s], system, kind, s))
    row["cost_ratio"] = _cost(ens, data["id"], args.repeats)
    return row


def _summary(rows: list[dict]) -> None:
    keys = [f"raw90@{h}" for h in HORIZONS] + [f"cov90@{h}" for h in HORIZONS]
    keys += ["cov50@50", "crps", "auroc", "flagged", "nrmse"]
    groups: dict[tuple, list] = {}
    for r in rows:
        for s, rec in r["scenarios"].items():
            groups.setdefault((r["system"], r["kind"], s), []).append(rec)
    print("system | kind | scenario | " + " | ".join(keys) + "  (mean ± std over seeds)")
    for (system, kind, s), recs in groups.items():
        cells = []
        for k in keys:
            v = np.array([rec[k] for rec in recs if k in rec], dtype=float)
            cells.append("-" if v.size == 0 else f"{v.mean():.3f}±{v.std():.3f}")
        print(f"{system} | {kind} | {s} | " + " | ".join(cells))
    for kind in sorted({r["kind"] for r in rows}):
        c = [r["cost_ratio"] for r in rows if r["kind"] == kind]
        print(
            f"cost ratio ensemble/one ({kind}): median {np.median(c):.2f} (runs: {np.round(c, 2)})"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--systems", default="pendulum")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--kinds", default="hybrid,hybrid-draws,learned")
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--members", type=int, default=5)
    p.add_argument("--eval-duration", type=float, default=2.0)
    p.add_argument(
        "--val-episodes",
        type=int,
        default=64,
        help="id validation episodes for the recalibration and the detector's threshold",
    )
    p.add_argument("--test-episodes", type=int, default=64, help="test episodes per scenario")
    p.add_argument("--shift", type=float, default=1.2)
    p.add_argument(
        "--library",
        default="preset",
        help="'preset': each system's discovery of the full preset (the rational path for "
        "cart-pole, acrobot and reacher), or a discovery library for every system",
    )
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument(
        "--physics-draws",
        type=int,
        default=20,
        help="bagged models of the SINDy ensemble discovery runs (E-SINDy); the kinds "
        "'hybrid-draws' and 'physics-draws' give each member a draw of its coefficients",
    )
    p.add_argument("--json", default=None, help="write every row to this file")
    p.add_argument(
        "--from-json",
        default=None,
        help="comma-separated --json files of earlier runs: print their summary, run nothing",
    )
    p.add_argument(
        "--run-dir",
        default=None,
        help="a benchmark run directory to write uncertainty.json into (its report then shows "
        "the uncertainty section)",
    )
    p.add_argument("--band-seed", type=int, default=0, help="the seed whose bands are written")
    args = p.parse_args()
    if args.from_json:
        rows = [r for f in args.from_json.split(",") for r in json.loads(open(f).read())]
        _finish(rows, args)
        return
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    rows = []
    for system in args.systems.split(","):
        for seed in map(int, args.seeds.split(",")):
            data = _data(system, seed, args)
            dcfg = _discover_config(system, seed, args)
            phys = discover(data["train"], config=dcfg)
            for kind in args.kinds.split(","):
                t0 = time.perf_counter()
                rows.append(run_one(system, seed, kind, data, phys, args))
                took = time.perf_counter() - t0
                print(f"# {system} seed {seed} {kind}: {took:.0f} s", flush=True)
                print(json.dumps(rows[-1]["scenarios"]), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    _finish(rows, args)


def _finish(rows: list[dict], args: argparse.Namespace) -> None:
    _summary(rows)
    if args.run_dir:
        doc = UncertaintyDocument(
            rows=[d for r in rows for d in r["document_rows"]],
            bands=[b for r in rows for b in r["bands"]],
        )
        print("wrote", doc.write(args.run_dir))


if __name__ == "__main__":
    main()
