"""Noise-robust discovery with default settings: hybridwm vs bare pysindy, 1 / 5 / 10 % noise.

For each system, noise level and seed: simulate the ``train`` scenario (pendulum: 20 episodes ×
5 s; cart-pole: 32 × 3 s; dt = 0.01 s), add Gaussian noise to the states (the level is a
fraction of each state's standard deviation), and discover the equations with the generic
library a user would pick, ``trig-poly``, and otherwise DEFAULT settings:

* ``hybridwm`` (derivative): ``discover(data, DiscoverConfig(library="trig-poly", ...))``: the
  smoothing window by GCV, the number of terms of each equation by held-out validation;
* ``hybridwm`` (weak): the same with ``method="weak"``;
* ``hybridwm`` (weak+refine): the weak form, then terms and coefficients chosen again by
  free-run simulation error (``refine="terms"``, :func:`hybridwm.physics.refine_coefficients`);
* bare pysindy: ``pysindy.SINDy(feature_library=<the same library>).fit(...)``, all its defaults
  (STLSQ threshold 0.1, finite differences).

The cart-pole's accelerations are rational in cos(theta), so hybridwm takes the rational path
(``denominator="cos(theta)"``, and ``action_products=["cos(theta)"]`` so that the library holds
``force*cos(theta)``); bare pysindy gets the same trig-poly library and has no rational form
(its "right terms" can only be no). Prints, per system / noise / method: the seeds with exactly
the true terms, the median and worst (over seeds) of the largest relative error of the true
coefficients (numerators and the denominator's ``cos(theta)^2`` coefficient), the seeds with
every coefficient within the target (1 % at 1 % noise, 3 % at 5 %), and the median time.

For weak+refine it also prints how often every true coefficient lies within 3 of its reported
standard errors (of the seeds with the right terms: are the errors honest?) and the information
limit of the data: the largest relative
standard error of a true coefficient at the refined (maximum-likelihood) fit, the Cramér-Rao
bound under white measurement noise (median over the seeds with the right terms), and from it an
upper bound on the chance that ANY unbiased estimator puts every coefficient within the target
on one seed: ``min_k P(|N(0, se_k)| <= target |c_k|)`` (the hardest coefficient alone; the
others only lower it).

    .venv/bin/python benchmarks/bench_discover_noise.py --seeds 0 1 2 3 4 5 6 7 8 9

Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from math import erf, sqrt

import numpy as np
import pysindy as ps
import torch

from hybridwm.evaluation.coefficients import coefficient_view, system_entry
from hybridwm.physics import DiscoverConfig, discover, make_library
from hybridwm.systems import get_system, simulate

SYSTEMS = {
    "pendulum": ({"n_trajectories": 20, "duration": 5.0}, {}),
    "cartpole": (
        {"n_trajectories": 32, "duration": 3.0},
        {"denominator": "cos(theta)", "action_products": ("cos(theta)",)},
    ),
}
TARGET = {0.01: 0.01, 0.05: 0.03}


def _score(found: dict, true: dict) -> tuple[bool, float]:
    """(exactly the true terms in every equation, largest relative error of a true nonzero
    coefficient; inf where a true term is missing)."""
    right, worst = True, 0.0
    for state, terms in true.items():
        got = {
            k: v for k, v in found.get(state, {}).items() if not k.startswith("D: ") or k in terms
        }
        want = {k: v for k, v in terms.items() if v != 0.0}
        if {k for k in got if not k.startswith("D: ")} != {
            k for k in want if not k.startswith("D: ")
        }:
            right = False
        for k, v in want.items():
            worst = max(worst, abs(got.get(k, 0.0) - v) / abs(v))
    return right, worst


def _limit(model, true: dict, target: float | None) -> tuple[float, float, float]:
    """(largest relative standard error of a true coefficient, upper bound on the chance that
    an unbiased estimator puts every coefficient within ``target``, largest error in standard
    errors); NaN where not refined or a true term is missing."""
    se = model.info.get("refinement", {}).get("standard_errors")
    entry = coefficient_view(model)
    rel, z = [], []
    for state, terms in true.items():
        for k, v in terms.items():
            if v == 0.0:
                continue
            if not se or k not in se.get(state, {}) or k not in entry.get(state, {}):
                return float("nan"), float("nan"), float("nan")
            rel.append(se[state][k] / abs(v))
            z.append(abs(entry[state][k] - v) / se[state][k])
    if not rel:
        return float("nan"), float("nan"), float("nan")
    bound = min(erf(target / r / sqrt(2.0)) for r in rel) if target else float("nan")
    return max(rel), bound, max(z)


def ours(system: str, data, extra: dict, method: str, target: float | None = None) -> tuple:
    refine = "terms" if method.endswith("+refine") else "none"
    cfg = DiscoverConfig(
        library="trig-poly", method=method.removesuffix("+refine"), refine=refine, **extra
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = discover(data, config=cfg)
    entry = system_entry(system, model)
    right, worst = _score(entry.coefficients or {}, entry.true_coefficients or {})
    return right, worst, model.n_terms, *_limit(model, entry.true_coefficients or {}, target)


def bare(system: str, data, extra: dict) -> tuple[bool, float, int]:
    lib = make_library(
        "trig-poly",
        data.state_names,
        data.action_names,
        angles=("theta",),
        action_products=extra.get("action_products", ()),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = ps.SINDy(feature_library=lib.to_pysindy()).fit(
            [tr.x for tr in data],
            t=[tr.t for tr in data],
            u=[tr.u for tr in data],
            feature_names=list(data.state_names + data.action_names),
        )
    coef = np.asarray(model.coefficients())
    truth = get_system(system).true_equations()
    n_terms = int((coef != 0).sum())
    if truth.denominator:  # no rational form: the true terms cannot be found
        return False, float("inf"), n_terms, float("nan"), float("nan"), float("nan")
    T = truth.coefficient_matrix(lib.names)
    nz = T != 0
    right = bool(np.array_equal(coef != 0, nz))
    worst = float((np.abs(coef[nz] - T[nz]) / np.abs(T[nz])).max())
    return right, worst, n_terms, float("nan"), float("nan"), float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", nargs="+", default=list(SYSTEMS))
    parser.add_argument("--noise", type=float, nargs="+", default=[0.01, 0.05, 0.10])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    parser.add_argument(
        "--methods", nargs="+", default=["derivative", "weak", "weak+refine", "pysindy"]
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(
        "| system | noise | method | right terms | max coef error: median / worst | "
        "within target | terms (median) | seconds (median) | largest relative SE (median) | "
        "P(all within target) bound (median) | all within 3 SE |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for system in args.systems:
        sim, extra = SYSTEMS[system]
        for noise in args.noise:
            runs: dict[str, list[tuple]] = {m: [] for m in args.methods}
            for seed in args.seeds:
                clean = simulate(system=system, scenario="train", dt=0.01, seed=seed, **sim)
                data = clean.add_noise(noise, seed=1000 + seed)
                for m in args.methods:
                    started = time.perf_counter()
                    res = (
                        bare(system, data, extra)
                        if m == "pysindy"
                        else ours(system, data, extra, m, TARGET.get(noise))
                    )
                    runs[m].append((*res, time.perf_counter() - started))
            for m, rs in runs.items():
                errs = [r[1] for r in rs]
                target = TARGET.get(noise)
                within = f"{sum(e <= target for e in errs)}/{len(rs)}" if target else "–"
                print(
                    f"| {system} | {noise:.0%} | {m} | {sum(r[0] for r in rs)}/{len(rs)} | "
                    f"{statistics.median(errs):.3%} / {max(errs):.3%} | {within} | "
                    f"{statistics.median(r[2] for r in rs):g} | "
                    f"{statistics.median(r[6] for r in rs):.2f} | {_median([r[3] for r in rs], '.2%')} | "
                    f"{_median([r[4] for r in rs], '.2f')} | {_within_se([r[5] for r in rs])} |",
                    flush=True,
                )


def _within_se(values) -> str:
    """ "k/n": seeds whose every true coefficient lies within 3 standard errors, of the n seeds
    with the right terms and standard errors; "–" where there are none."""
    finite = [v for v in values if np.isfinite(v)]
    return f"{sum(v <= 3.0 for v in finite)}/{len(finite)}" if finite else "–"


def _median(values, fmt: str) -> str:
    """The median of the finite values, formatted; "–" where there are none."""
    finite = [v for v in values if np.isfinite(v)]
    return format(statistics.median(finite), fmt) if finite else "–"


if __name__ == "__main__":
    main()
